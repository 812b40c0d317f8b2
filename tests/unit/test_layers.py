"""The layers the folders show: imports point down only, and the core never imports Discord.

``bot.py`` → ``cogs`` → ``sora_bot`` composition (core, services, health, cli) → ``engine``
→ ``rules`` → outcome texts → ``provider`` | ``storage`` (siblings that never import each
other) → ``infra`` → the foundation (models, errors, settings, media, outside text).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.doubles import ROOT

RANKS = {
    "sora_bot.models": 0,
    "sora_bot.errors": 0,
    "sora_bot.settings": 0,
    "sora_bot.media": 0,
    "sora_bot.outside_text": 0,
    "sora_bot.infra": 1,
    "sora_bot.storage": 2,
    "sora_bot.provider": 2,
    "sora_bot.outcome_texts": 3,
    "sora_bot.rules": 4,
    "sora_bot.engine": 5,
}
COMPOSITION = 6  # every other module of sora_bot: core, services, health, cli, __main__
SIBLINGS = 2  # provider and storage: neither may import the other


def layer_of(module: str) -> tuple[str, int]:
    """The layer (its package or module) and rank of a ``sora_bot`` module."""
    parts = module.split(".")
    name = ".".join(parts[:2])
    return name, RANKS.get(name, COMPOSITION)


def imports(path: Path) -> list[str]:
    """Every module ``path`` imports (type-checking imports included)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return found


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_core_imports_point_down_only_and_siblings_stay_apart() -> None:
    wrong: list[str] = []
    for path in sorted((ROOT / "sora_bot").rglob("*.py")):
        me, my_rank = layer_of(module_name(path))
        for target in imports(path):
            if target.split(".")[0] in ("discord", "cogs", "bot"):
                wrong.append(f"{module_name(path)} imports {target} (the core is Discord-free)")
            if not target.startswith("sora_bot."):
                continue  # the package itself ("from sora_bot import x") names x as well
            other, rank = layer_of(target)
            if other != me and (rank > my_rank or rank == my_rank == SIBLINGS):
                wrong.append(f"{module_name(path)} ({me}) imports {target} ({other})")
    assert wrong == []


def test_the_discord_layer_never_imports_the_entry_script() -> None:
    wrong = [
        f"{module_name(path)} imports {target}"
        for path in sorted((ROOT / "cogs").rglob("*.py"))
        for target in imports(path)
        if target == "bot" or target.startswith("bot.")
    ]
    assert wrong == []

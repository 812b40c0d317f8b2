"""Check request bodies against Discord's OpenAPI description and documented limits."""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path("/work/shared/reference/discord-openapi.json")
SPEC_URI = "urn:discord-openapi"

EMBED_LIMITS = {"title": 256, "description": 4096}
MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_FIELDS = 25
MAX_EMBED_TOTAL = 6000
MAX_ACTION_ROWS = 5
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


@dataclass(frozen=True)
class FieldError:
    """One problem at a location in the body (a JSON path)."""

    path: tuple[str | int, ...]
    code: str
    message: str

    def __str__(self) -> str:
        where = ".".join(str(p) for p in self.path) or "<body>"
        return f"{where}: {self.message}"


class _Operation:
    def __init__(self, template: str, method: str, schema: dict[str, Any], registry: Registry):
        self.template = template
        self.method = method
        params = re.findall(r"\{[^}]+\}", template)
        self.param_count = len(params)
        pattern = re.escape(template)
        for p in params:
            pattern = pattern.replace(re.escape(p), r"[^/]+")
        self.regex = re.compile(f"^{pattern}$")
        self.validator = Draft202012Validator(_absolute_refs(schema), registry=registry)


def _absolute_refs(node: Any) -> Any:
    """Point local `#/components/...` refs of an extracted schema at the spec resource."""
    if isinstance(node, dict):
        return {
            k: (SPEC_URI + v if k == "$ref" and v.startswith("#") else _absolute_refs(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_absolute_refs(v) for v in node]
    return node


class RequestSchemas:
    """Request-body schemas of the spec, found by method and concrete path."""

    def __init__(self, spec: dict[str, Any]):
        spec = copy.deepcopy(spec)
        snowflake = spec["components"]["schemas"]["SnowflakeType"]
        # Discord accepts snowflakes as JSON integers too (discord.py sends ints in places).
        spec["components"]["schemas"]["SnowflakeType"] = {
            "anyOf": [snowflake, {"type": "integer", "minimum": 0}]
        }
        resource = Resource.from_contents(spec, default_specification=DRAFT202012)
        registry: Registry = Registry().with_resource(SPEC_URI, resource)
        self._ops: list[_Operation] = []
        for template, item in spec["paths"].items():
            for method, op in item.items():
                if method not in HTTP_METHODS:
                    continue
                content = (op.get("requestBody") or {}).get("content") or {}
                schema = (content.get("application/json") or {}).get("schema")
                if schema is not None:
                    self._ops.append(_Operation(template, method.upper(), schema, registry))
        self._ops.sort(key=lambda o: o.param_count)

    def find(self, method: str, path: str) -> _Operation | None:
        """The operation for a concrete path (literal segments beat parameters)."""
        for op in self._ops:
            if op.method == method and op.regex.match(path):
                return op
        return None

    def errors(self, method: str, path: str, body: Any) -> list[FieldError]:
        """Schema errors of a JSON body; an unknown operation gives none."""
        op = self.find(method, path)
        if op is None:
            return []
        found = []
        for err in op.validator.iter_errors(body):
            for leaf in _leaves(err):
                message = f"{leaf.validator} {_short(leaf.validator_value)}: {leaf.message[:160]}"
                found.append(FieldError(tuple(leaf.absolute_path), "BASE_TYPE_INVALID", message))
        return found


def _leaves(err: ValidationError) -> list[ValidationError]:
    """Inside a oneOf/anyOf, the errors of the branch that got deepest into the body."""
    if not err.context:
        return [err]
    branches: dict[Any, list[ValidationError]] = {}
    for sub in err.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    best = max(branches.values(), key=lambda errs: (max(map(_depth, errs)), -len(errs)))
    if max(map(_depth, best)) <= len(err.absolute_path):
        return [err]  # no branch got further than the union itself
    return [leaf for sub in best for leaf in _leaves(sub)]


def _depth(err: ValidationError) -> int:
    return max([len(err.absolute_path), *(_depth(sub) for sub in err.context)])


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@functools.cache
def load_schemas(spec_path: Path = SPEC_PATH) -> RequestSchemas:
    """Load and compile the spec once per process."""
    return RequestSchemas(json.loads(spec_path.read_text(encoding="utf-8")))


def message_limit_errors(body: Any, base: tuple[str | int, ...] = ()) -> list[FieldError]:
    """Documented message limits the spec is looser about (content, embeds, action rows)."""
    if not isinstance(body, dict):
        return []
    errors: list[FieldError] = []
    content = body.get("content")
    if isinstance(content, str) and len(content) > MAX_CONTENT:
        errors.append(_too_long((*base, "content"), MAX_CONTENT))
    embeds = body.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        errors.append(FieldError((*base, "embeds"), "BASE_TYPE_MAX_LENGTH", "at most 10 embeds"))
    total = 0
    for i, embed in enumerate(embeds):
        if isinstance(embed, dict):
            total += _embed_errors(embed, (*base, "embeds", i), errors)
    if total > MAX_EMBED_TOTAL:
        errors.append(
            FieldError((*base, "embeds"), "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds 6000")
        )
    rows = [c for c in body.get("components") or [] if isinstance(c, dict) and c.get("type") == 1]
    if len(rows) > MAX_ACTION_ROWS:
        errors.append(
            FieldError((*base, "components"), "BASE_TYPE_MAX_LENGTH", "at most 5 action rows")
        )
    return errors


def _embed_errors(embed: dict[str, Any], at: tuple[str | int, ...], out: list[FieldError]) -> int:
    total = 0
    for key, limit in EMBED_LIMITS.items():
        total += _check(embed.get(key), limit, (*at, key), out)
    total += _check((embed.get("footer") or {}).get("text"), 2048, (*at, "footer", "text"), out)
    total += _check((embed.get("author") or {}).get("name"), 256, (*at, "author", "name"), out)
    fields = embed.get("fields") or []
    if len(fields) > MAX_EMBED_FIELDS:
        out.append(FieldError((*at, "fields"), "BASE_TYPE_MAX_LENGTH", "at most 25 fields"))
    for i, f in enumerate(fields):
        if isinstance(f, dict):
            total += _check(f.get("name"), 256, (*at, "fields", i, "name"), out)
            total += _check(f.get("value"), 1024, (*at, "fields", i, "value"), out)
    return total


def _check(value: Any, limit: int, at: tuple[str | int, ...], out: list[FieldError]) -> int:
    if not isinstance(value, str):
        return 0
    if len(value) > limit:
        out.append(_too_long(at, limit))
    return len(value)


def _too_long(at: tuple[str | int, ...], limit: int) -> FieldError:
    return FieldError(at, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def error_body(errors: list[FieldError]) -> dict[str, Any]:
    """Discord's 50035 "Invalid Form Body" shape with nested `_errors`."""
    tree: dict[str, Any] = {}
    for err in errors:
        node = tree
        for part in err.path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": err.code, "message": err.message})
    return {"code": 50035, "message": "Invalid Form Body", "errors": tree}

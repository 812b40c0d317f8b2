"""The Discord layer's typed job references and its one way out (the simulation label)."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import cast

import discord

from cogs.outgoing import EmbedMark, Label
from cogs.refs import DiscordRefs
from cogs.render.admin import audit_embed, terms_embed
from cogs.render.status import job_line, status_embed
from sora_bot.models import CreditState, Job, JobState
from sora_bot.rules.usage import AuditEntry
from tests.doubles import ROOT

NOTE = "-# 🧪 Simulation: made by the built-in simulator, not by Sora-2."


def test_refs_of_a_posted_status_are_stored_as_always() -> None:
    status = cast("discord.Message", SimpleNamespace(id=22, channel=SimpleNamespace(id=11)))
    stored = DiscordRefs.posted(status, thread_id=33).to_dict()
    assert list(stored.items()) == [
        ("channel_id", "11"),
        ("message_id", "22"),
        ("status_ref", "11/22"),
        ("thread_id", "33"),
    ]
    assert "thread_id" not in DiscordRefs.posted(status).to_dict()


def test_refs_read_rows_of_every_version() -> None:
    first_release = {
        "channel_id": "11",
        "message_id": "22",
        "thread_id": "33",
        "status_ref": "11/22",
    }
    assert DiscordRefs.parse(first_release) == DiscordRefs(11, 22, "11/22", 33)
    assert DiscordRefs.parse({}) == DiscordRefs()
    assert DiscordRefs.parse({"channel_id": "11", "message_id": "22"}).status_ref is None


def test_label_marks_text_or_embed_once_and_only_when_simulating() -> None:
    assert Label(False).message("hi", None, EmbedMark.FOOTER_TAG) == ("hi", None)
    assert Label(True).message("hi", None, EmbedMark.FOOTER_TAG) == (f"{NOTE}\nhi", None)
    content, embed = Label(True).message("note", discord.Embed(), EmbedMark.FOOTER_TAG)
    assert content == "note" and embed is not None and embed.footer.text == "🧪 Simulation"


def test_label_places_in_embeds() -> None:
    def marked(mark: EmbedMark, embed: discord.Embed) -> discord.Embed:
        _, labelled = Label(True).message(None, embed, mark)
        assert labelled is not None
        return labelled

    status = marked(EmbedMark.FOOTER_SUFFIX, discord.Embed().set_footer(text="job #4"))
    assert status.footer.text == "job #4 · simulation"
    report = marked(EmbedMark.FOOTER_TAG, discord.Embed().set_footer(text="30 days"))
    assert report.footer.text == "🧪 Simulation · 30 days"
    assert marked(EmbedMark.DESCRIPTION, discord.Embed()).description == NOTE
    listed = marked(EmbedMark.DESCRIPTION, discord.Embed(description="#1"))
    assert listed.description == f"{NOTE}\n#1"


def test_cogs_send_only_through_outgoing() -> None:
    """A message sent around ``cogs.outgoing`` could go out without the simulation label."""
    sending = re.compile(r"\.(send|send_message|edit|edit_original_response)\(")
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "cogs").rglob("*.py")
        if path.name != "outgoing.py" and sending.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
HOSTILE = f"[a cute cat](https://evil.example/x) {BIDI}gnp.exe @everyone <@&5>\n>>> ```spoiler ||x"


def job(prompt: str, **fields: object) -> Job:
    """A finished job row with this prompt."""
    values: dict[str, object] = {
        "id": 7, "guild_id": "1", "channel_id": "2", "user_id": "3", "prompt": prompt,
        "aspect_ratio": "16:9", "duration": 10, "remove_watermark": False, "image_url": None,
        "cost": 10, "credit_day": "2030-01-01", "credit_state": CreditState.REFUNDED,
        "state": JobState.FAILED, "task_id": "t", "progress": 0, "estimated_seconds": None,
        "error_code": "content_policy_violation", "error_message": None, "video_url": None,
        "file_path": None, "file_size": None, "front_ref": {}, "delivery_ref": None,
        "outcome_posted": True, "attempts": 0, "created_at": 1.0e9, "submitted_at": None,
        "completed_at": None, "finished_at": None, "updated_at": 1.0e9, "next_attempt_at": None,
    }  # fmt: skip
    values.update(fields)
    return Job(**values)  # type: ignore[arg-type]


def assert_shown_safely(text: str) -> None:
    """The real link target visible, nothing reordered, no ping, no markup opened."""
    assert "a cute cat (https://evil.example/x)" in text and "](" not in text
    assert not any(ch in text for ch in BIDI)
    assert "@everyone" not in text and "<@&5>" not in text
    assert "```" not in text and "||" not in text and "\n>" not in text


def test_prompts_in_the_status_embed_and_job_lines_are_shown_safely() -> None:
    embed = status_embed(job(HOSTILE))
    assert embed.description is not None
    assert_shown_safely(embed.description)
    assert_shown_safely(job_line(job(HOSTILE)))
    assert "\n" not in job_line(job(HOSTILE))


def test_a_stored_error_code_cannot_break_out_of_its_code_span() -> None:
    embed = status_embed(job("a fox", error_code="x` @everyone [y](https://e.example)"))
    [reason] = [f.value for f in embed.fields if f.name == "Reason"]
    assert reason == "`xeveryoneyhttps:e.example`"


def test_admin_views_echo_prompts_and_terms_safely() -> None:
    audit = audit_embed([AuditEntry(1.0e9, "job", "3", "failed", 10, HOSTILE, 7)])
    assert audit.description is not None
    assert_shown_safely(audit.description)
    terms = terms_embed([HOSTILE])
    assert terms.description is not None
    assert_shown_safely(terms.description)

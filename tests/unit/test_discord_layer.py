"""The Discord layer's typed job references and its one way out (the simulation label)."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import cast

import discord

from cogs.outgoing import EmbedMark, Label
from cogs.refs import DiscordRefs
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

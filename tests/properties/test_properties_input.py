"""Abuse and bad input: prompts, options and image bytes never crash anything, never reach the
provider when invalid, never ping; concurrent submits never exceed allowances or budgets."""

from __future__ import annotations

import asyncio
import io
import struct
import tempfile
import time
import unicodedata
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from sora_bot.engine.service import JobService
from sora_bot.errors import InvalidInput
from sora_bot.media import ACCEPTED, MAX_PIXELS, MAX_SIDE, prepare_image
from sora_bot.models import MAX_PROMPT_CHARS, CreditState, JobState, Requester, VideoOptions
from sora_bot.rules.credits import CreditRefused, Credits
from sora_bot.rules.terms import TermMatcher, blocked_term, strip_invisible
from sora_bot.rules.validation import build_options, clean_prompt
from sora_bot.storage.database import Database
from sora_bot.storage.jobs import JobStore
from tests.doubles import (
    DiscordDouble,
    FakeClock,
    FileSpec,
    ProviderDouble,
    answer_text,
    answered,
    bot_messages,
    finished,
    make_settings,
    running_bot,
    running_provider,
    wait_job,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NASTY = [
    "@everyone @here look",
    "<@123456789012345678> <@&123456789012345678> <#123456789012345678>",
    "**bold** __under__ ~~gone~~ `code` ```block``` > quote || spoiler ||",
    "\u202eRTL override\u202c \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    "👩\u200d👩\u200d👧 family 🏳️\u200d🌈 flag 👍🏽",
    "null\x00 bell\x07 esc\x1b[31m red \x7f del",
    "line\r\nbreaks\ttabs\n",
    "zero\u200bwidth\u200b spaces",  # format characters inside a prompt are kept
]
prompt_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.sampled_from(NASTY),
    st.builds(lambda n, c: c * n, st.integers(4990, 5010), st.sampled_from(["a", " ", "é", "👍"])),
)


# -- prompts and options ---------------------------------------------------------------------


@FAST
@given(prompt_text)
@example("")
@example("   \n\t  ")
@example("x" * MAX_PROMPT_CHARS)
@example("x" * (MAX_PROMPT_CHARS + 1))
@example(" " * 10 + "x" * MAX_PROMPT_CHARS + " " * 10)
@example("\x00" * 6000)
@example("\u200b\u200d \u2060\U000e0041")
def test_clean_prompt_never_crashes(text: str) -> None:
    try:
        cleaned = clean_prompt(text)
    except InvalidInput as refusal:
        assert str(refusal) and "Traceback" not in str(refusal)
        kept = "".join(
            ch
            for ch in text.replace("\r\n", "\n")
            if ch in "\n\t" or unicodedata.category(ch) != "Cc"
        ).strip()
        # Refused only when empty (invisible characters count as nothing) or too long.
        assert not strip_invisible(kept).strip() or len(kept) > MAX_PROMPT_CHARS
        return
    assert cleaned and cleaned == cleaned.strip() and len(cleaned) <= MAX_PROMPT_CHARS
    assert all(ch in "\n\t" or unicodedata.category(ch) != "Cc" for ch in cleaned)
    assert "\r\n" not in cleaned


HIDDEN = ["\u200b", "\u200c", "\u200d", "\u00ad", "\u2060", "\ufeff", "\ufe0f", "\U000e0020"]
LOOKALIKES = {"a": "\u0430", "c": "\u0441", "e": "\u0435", "o": "\u03bf", "p": "\u0440"}


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, str]:
    """A word and a spelling of it with invisible characters, homoglyphs and odd widths."""
    word = draw(st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=12))
    out = []
    for letter in word:
        style = draw(st.sampled_from(["plain", "lookalike", "fullwidth", "bold", "upper"]))
        if style == "lookalike" and letter in LOOKALIKES:
            letter = LOOKALIKES[letter]
        elif style == "fullwidth":
            letter = chr(ord(letter) - ord("a") + 0xFF41)
        elif style == "bold":
            letter = chr(ord(letter) - ord("a") + 0x1D41A)
        elif style == "upper":
            letter = letter.upper()
        out.append(letter + "".join(draw(st.lists(st.sampled_from(HIDDEN), max_size=2))))
    return word, "".join(out)


@FAST
@given(disguised())
def test_disguised_blocked_word_is_still_caught(case: tuple[str, str]) -> None:
    word, spelled = case
    assert TermMatcher([blocked_term(word)]).first_match(f"a {spelled} here") is not None


anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-20, 40),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["16:9", "9:16", " 9:16 ", "10", "15", "1:1", "16/9"]),
    st.lists(st.integers(), max_size=2),
)


@FAST
@given(
    prompt=prompt_text,
    aspect_ratio=anything,
    duration=anything,
    remove_watermark=anything,
    image_url=st.one_of(st.none(), st.text(max_size=50), st.just("https://x.test/a.png"), anything),
)
def test_build_options_gives_valid_options_or_a_refusal(
    prompt: str, aspect_ratio: Any, duration: Any, remove_watermark: Any, image_url: Any
) -> None:
    try:
        opts = build_options(
            prompt,
            aspect_ratio=aspect_ratio,
            duration=duration,
            remove_watermark=remove_watermark,
            image_url=image_url,
        )
    except InvalidInput:
        return
    assert opts.aspect_ratio in ("16:9", "9:16") and opts.duration in (10, 15)
    assert isinstance(opts.remove_watermark, bool) and opts.prompt == clean_prompt(prompt)
    assert opts.image_url is None or opts.image_url.startswith(("http://", "https://"))


# -- image bytes -----------------------------------------------------------------------------


def _encode(img: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, pixels: bytes | None = None) -> bytes:
    """A PNG claiming ``width``×``height``; rows of zeros unless ``pixels`` are given (a bomb)."""
    raw = pixels if pixels is not None else b"\x00" * ((width * 3 + 1) * min(height, 64))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


SAMPLES = {
    fmt: _encode(Image.new("RGB", (64, 36), (200, 40, 90)), fmt) for fmt in ("PNG", "JPEG", "WEBP")
}
SAMPLES["GIF"] = _encode(Image.new("P", (64, 36)), "GIF")
SAMPLES["BMP"] = _encode(Image.new("RGB", (64, 36)), "BMP")


def mutations() -> st.SearchStrategy[bytes]:
    base = st.sampled_from(sorted(SAMPLES.values()))
    truncated = st.builds(lambda d, f: d[: int(len(d) * f)], base, st.floats(0, 0.99))
    flipped = st.builds(
        lambda d, i, b: d[: i % len(d)] + bytes([b]) + d[i % len(d) + 1 :],
        base,
        st.integers(0, 10_000),
        st.integers(0, 255),
    )
    swapped_magic = st.builds(
        lambda d, m: m + d[len(m) :],
        base,
        st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\x00\x00\x00\x00WEBP"]),
    )
    huge = st.builds(png, st.integers(1, 1_000_000), st.integers(1, 1_000_000))
    return st.one_of(st.binary(max_size=2000), truncated, flipped, swapped_magic, huge, base)


def check_image(data: bytes) -> None:
    started = time.monotonic()
    try:
        prepared = prepare_image(data)
    except InvalidInput as refusal:
        assert str(refusal)
    else:
        assert prepared.format in {v[0] for v in ACCEPTED.values()}
        assert len(prepared.data) <= 10 * 1024 * 1024
        with Image.open(io.BytesIO(prepared.data)) as again:
            assert again.width * again.height <= MAX_PIXELS and max(again.size) <= MAX_SIDE
    assert time.monotonic() - started < 5


@FAST
@given(mutations())
@example(b"")
@example(b"\x00")
@example(png(100_000, 100_000))
@example(png(MAX_SIDE + 1, 16))
@example(png(6000, 6000, b"\x00" * 2000))  # claims 36 MP: the stream ends far too early
def test_prepare_image_refuses_or_returns_a_clean_image(data: bytes) -> None:
    check_image(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(png(6000, 6000, b"\x00" * ((6000 * 3 + 1) * 6000)), id="36MP-of-zeros-bomb"),
        pytest.param(png(8192, 8192), id="67MP-header"),
        pytest.param(_encode(Image.new("RGB", (64, 16_000)), "PNG"), id="extreme-aspect"),
    ],
)
def test_decompression_bombs_are_refused_or_safe(data: bytes) -> None:
    check_image(data)


# -- through /video in the Discord double ------------------------------------------------------


@pytest.fixture
async def doubles() -> AsyncIterator[tuple[DiscordDouble, ProviderDouble]]:
    async with (
        DiscordDouble() as discord,
        running_provider(task_seconds=0.2, estimated_time=1) as provider,
    ):
        yield discord, provider
        discord.assert_no_violations()


async def test_nasty_prompts_through_video_never_ping(
    tmp_path: Path, doubles: tuple[DiscordDouble, ProviderDouble]
) -> None:
    discord, provider = doubles
    role = discord.add_role(discord.guild, "fans", mentionable=True)
    prompts = [*NASTY, f"<@&{role.id}> <@{discord.member_user.id}> hi @everyone"]
    env = {"SORA_DAILY_CREDITS": "10000", "SORA_MAX_ACTIVE_PER_USER": "50"}
    async with running_bot(tmp_path, discord, provider, **env) as bot:
        for prompt in prompts:
            handle = await discord.invoke("video", {"prompt": prompt})
            await handle.wait(answered)
            await wait_job(bot.core, finished)
        jobs = await bot.core.store.recent_for_user(
            str(discord.guild.id), str(discord.owner.id), 50
        )
    assert len(jobs) == len(prompts) and all(j.state is JobState.DELIVERED for j in jobs)
    sent = sorted(r.json["prompt"] for r in provider.creates())
    assert sent == sorted(clean_prompt(p) for p in prompts)  # exactly the cleaned prompt
    for message in bot_messages(discord):
        assert not message.pinged_everyone and not message.pinged_role_ids
        assert message.pinged_user_ids <= {discord.owner.id}


@pytest.mark.parametrize(
    ("prompt", "image"),
    [
        ("", None),
        ("   \n\t ", None),
        ("\x00\x01\x02", None),
        ("\u200b\u200b \u00ad\ufe0f", None),  # only invisible characters
        ("x" * (MAX_PROMPT_CHARS + 1), None),
        ("ok", FileSpec("a.png", b"", "image/png")),
        ("ok", FileSpec("a.png", SAMPLES["PNG"][:40], "image/png")),
        ("ok", FileSpec("a.png", SAMPLES["GIF"], "image/png")),  # lying content type
        ("ok", FileSpec("a.jpg", b"\xff\xd8\xff" + SAMPLES["PNG"][3:], "image/jpeg")),
        ("ok", FileSpec("a.png", png(100_000, 100_000), "image/png")),
        ("@everyone ok", FileSpec("a.exe", b"MZ\x90\x00" * 100, "image/png")),
    ],
)
async def test_invalid_input_through_video_costs_nothing(
    tmp_path: Path,
    doubles: tuple[DiscordDouble, ProviderDouble],
    prompt: str,
    image: FileSpec | None,
) -> None:
    discord, provider = doubles
    async with running_bot(tmp_path, discord, provider) as bot:
        handle = await discord.invoke(
            "video", {"prompt": prompt}, attachments={"image": image} if image else None
        )
        await handle.wait(answered)
        jobs = await bot.core.store.recent_for_user(str(discord.guild.id), str(discord.owner.id))
    assert handle.ephemeral and jobs == []
    assert provider.requests == []
    public = [m for m in bot_messages(discord) if not m.ephemeral]
    assert public == []
    for message in bot_messages(discord):
        assert not message.pinged_everyone and not message.pinged_role_ids


# -- concurrency against a model of the rules -------------------------------------------------

Submit = tuple[int, int, bool]  # (user index, duration, remove watermark)


@st.composite
def bursts(draw: st.DrawFn) -> tuple[dict[str, int], list[Submit], list[Submit]]:
    rules = {
        "allowance": draw(st.sampled_from([0, 10, 25, 30, 45, 100])),
        "max_active": draw(st.integers(1, 4)),
        "budget": draw(st.sampled_from([0, 0, 20, 40, 75])),
        "surcharge": draw(st.sampled_from([0, 5])),
    }
    submit = st.tuples(st.integers(0, 3), st.sampled_from([10, 15]), st.booleans())
    return (
        rules,
        draw(st.lists(submit, min_size=1, max_size=24)),
        draw(st.lists(submit, max_size=12)),
    )


async def _burst(
    service: JobService, submits: list[Submit]
) -> list[tuple[Submit, int | None, str | None]]:
    async def one(s: Submit) -> tuple[Submit, int | None, str | None]:
        who = Requester("g1", "c1", f"user{s[0]}")
        try:
            job = await service.submit(
                who, VideoOptions("burst", duration=s[1], remove_watermark=s[2])
            )
        except CreditRefused as refused:
            return s, None, refused.reason
        return s, job.id, None

    return list(await asyncio.gather(*(one(s) for s in submits)))


async def _check_model(
    db: Database, rules: dict[str, int], outcome: list[tuple[Submit, int | None, str | None]]
) -> None:
    rows = await db.fetchall("SELECT user_id, cost, state, credit_state FROM jobs")
    spent: dict[str, int] = {}
    active: dict[str, int] = {}
    for row in rows:
        if row["credit_state"] in ("reserved", "settled"):
            spent[row["user_id"]] = spent.get(row["user_id"], 0) + row["cost"]
        if row["state"] not in ("delivered", "failed", "rejected", "undeliverable"):
            active[row["user_id"]] = active.get(row["user_id"], 0) + 1
    guild_spent = sum(spent.values())
    assert all(v <= rules["allowance"] for v in spent.values()), spent
    assert all(v <= rules["max_active"] for v in active.values()), active
    if rules["budget"]:
        assert guild_spent <= rules["budget"], guild_spent
    for (u, duration, remove), job_id, reason in outcome:
        user_id = f"user{u}"
        cost = duration + (rules["surcharge"] if remove else 0)
        if job_id is not None:
            continue
        # Every refusal is still justified at the end (usage and active jobs only grew).
        if reason == "active_limit":
            assert active.get(user_id, 0) >= rules["max_active"]
        elif reason == "allowance":
            assert spent.get(user_id, 0) + cost > rules["allowance"]
        elif reason == "budget":
            assert guild_spent + cost > rules["budget"]
        else:
            raise AssertionError(f"unexpected refusal {reason}")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bursts(), st.randoms(use_true_random=False))
def test_concurrent_submits_respect_a_model_of_the_rules(
    case: tuple[dict[str, int], list[Submit], list[Submit]], rnd: Any
) -> None:
    rules, first, second = case

    async def scenario(folder: Path) -> None:
        settings_ = make_settings(
            folder,
            SORA_DAILY_CREDITS=str(rules["allowance"]),
            SORA_MAX_ACTIVE_PER_USER=str(rules["max_active"]),
            SORA_GUILD_DAILY_BUDGET=str(rules["budget"]),
            SORA_WATERMARK_SURCHARGE=str(rules["surcharge"]),
        )
        clock = FakeClock()
        db = await Database.open(folder / "bot.db")
        try:
            store = JobStore(db)
            credits = Credits(db, store, settings_, clock)
            service = JobService(store=store, credits=credits, settings=settings_, clock=clock)
            outcome = await _burst(service, first)
            await _check_model(db, rules, outcome)
            # Some jobs end (refunded or delivered) while a second burst arrives.
            accepted = [job_id for _, job_id, _ in outcome if job_id is not None]
            ending = [j for j in accepted if rnd.random() < 0.5]

            async def end(job_id: int) -> None:
                refunded = rnd.random() < 0.5
                await store.finish(
                    job_id,
                    from_states=[JobState.QUEUED],
                    to=JobState.FAILED if refunded else JobState.DELIVERED,
                    credits=CreditState.REFUNDED if refunded else CreditState.SETTLED,
                    now=clock(),
                )

            second_outcome, *_ = await asyncio.gather(
                _burst(service, second), *(end(j) for j in ending)
            )
            assert second_outcome is not None
            await _check_model(db, rules, second_outcome)
        finally:
            await db.close()

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(Path(tmp)))


async def test_discord_burst_by_one_user_never_exceeds_the_rules(
    tmp_path: Path, doubles: tuple[DiscordDouble, ProviderDouble]
) -> None:
    discord, provider = doubles
    provider.task_seconds = 1.0
    env = {"SORA_DAILY_CREDITS": "40", "SORA_MAX_ACTIVE_PER_USER": "3"}
    async with running_bot(tmp_path, discord, provider, **env) as bot:
        handles = await asyncio.gather(
            *(discord.invoke("video", {"prompt": f"burst {i}"}) for i in range(12))
        )
        for handle in handles:
            await handle.wait(answered, timeout=15)
        who = Requester(str(discord.guild.id), str(discord.channel.id), str(discord.owner.id))
        jobs = await bot.core.store.recent_for_user(who.guild_id, who.user_id, 50)
        async with asyncio.timeout(15):
            while not all([(await bot.core.store.require(j.id)).state.terminal for j in jobs]):
                await asyncio.sleep(0.05)
        quota = await bot.core.jobs.quota(who)
    cost = jobs[0].cost
    assert 1 <= len(jobs) <= min(3, 40 // cost)
    assert len(provider.creates()) == len(jobs)
    assert quota.used == cost * len(jobs) <= 40
    queued = [h for h in handles if "queued" in answer_text(h)]
    assert len(queued) == len(jobs)
    assert all(h.ephemeral for h in handles)

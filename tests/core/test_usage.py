from __future__ import annotations

import csv
import io

import pytest
from PIL import Image

from sora_bot.models import CreditState, JobState, Requester, VideoOptions
from sora_bot.rules.charts import HEIGHT, WIDTH, daily_spend_png
from sora_bot.rules.credits import Credits
from sora_bot.rules.guild_admin import GuildAdmin
from sora_bot.rules.policy import GuildPolicy
from sora_bot.rules.usage import CSV_MAX_BYTES, CSV_MAX_TEXT, AuditEntry, UsageReports, audit_csv
from sora_bot.storage.database import Database
from sora_bot.storage.jobs import JobStore
from tests.doubles import FakeClock

DAY = 86400.0
G = "g1"


@pytest.fixture
def reports(db: Database, clock: FakeClock) -> UsageReports:
    return UsageReports(db, clock)


async def add_job(
    credits: Credits,
    store: JobStore,
    clock: FakeClock,
    *,
    user: str,
    days_ago: int,
    cost: int,
    state: JobState,
    prompt: str = "a fox",
) -> int:
    """A job made ``days_ago`` days before the clock's now, ended in ``state``."""
    now = clock.now
    clock.now = now - days_ago * DAY
    try:
        job = await credits.reserve(Requester(G, "c1", user), VideoOptions(prompt), cost)
        if state.terminal:
            refund = state in (JobState.FAILED, JobState.REJECTED)
            await store.finish(
                job.id,
                from_states=[JobState.QUEUED],
                to=state,
                credits=CreditState.REFUNDED if refund else CreditState.SETTLED,
                now=clock.now,
            )
    finally:
        clock.now = now
    return job.id


@pytest.fixture
async def history(credits: Credits, store: JobStore, clock: FakeClock) -> None:
    add = add_job
    await add(credits, store, clock, user="alice", days_ago=0, cost=10, state=JobState.DELIVERED)
    await add(credits, store, clock, user="alice", days_ago=0, cost=15, state=JobState.QUEUED)
    await add(credits, store, clock, user="bob", days_ago=0, cost=20, state=JobState.FAILED)
    await add(credits, store, clock, user="bob", days_ago=3, cost=15, state=JobState.DELIVERED)
    await add(credits, store, clock, user="carol", days_ago=10, cost=10, state=JobState.DELIVERED)
    await add(credits, store, clock, user="carol", days_ago=20, cost=15, state=JobState.DELIVERED)
    await add(credits, store, clock, user="dave", days_ago=40, cost=30, state=JobState.DELIVERED)


@pytest.mark.usefixtures("history")
async def test_guild_spend_outcomes_and_top_users(reports: UsageReports) -> None:
    usage = await reports.guild(G)
    # Refunded jobs cost nothing; a reserved (running) job counts; day 40 is outside.
    assert (usage.spend.today, usage.spend.week, usage.spend.month) == (25, 40, 65)
    assert usage.outcomes == {"delivered": 4, "in progress": 1, "failed": 1}
    assert usage.top_users == [("alice", 25, 2), ("carol", 25, 2), ("bob", 15, 2)]
    assert len(usage.daily) == 14 and usage.daily[-1][1] == 25 and usage.daily[-4][1] == 15
    assert (await reports.guild("other")).spend.month == 0


async def test_guild_usage_carries_the_provider_bill(
    reports: UsageReports, credits: Credits, store: JobStore, clock: FakeClock
) -> None:
    job = await credits.reserve(Requester(G, "c1", "alice"), VideoOptions("a fox"), 10)
    await store.transition(
        job.id, None, changes={"task_id": "task-1", "provider_credits": 7.5}, now=clock.now
    )
    usage = await reports.guild(G)
    assert [(d.jobs, d.provider_credits) for d in usage.provider] == [(1, 7.5)]
    assert (await reports.guild("other")).provider == []


@pytest.mark.usefixtures("history")
async def test_member_history(reports: UsageReports) -> None:
    bob = await reports.member(G, "bob")
    assert (bob.spend.today, bob.spend.week, bob.spend.month) == (0, 15, 15)
    assert bob.outcomes == {"failed": 1, "delivered": 1}
    assert [j.state for j in bob.recent] == [JobState.FAILED, JobState.DELIVERED]


async def test_audit_merges_prompts_and_admin_actions_newest_first(
    reports: UsageReports, credits: Credits, store: JobStore, clock: FakeClock, db: Database
) -> None:
    admin = GuildAdmin(db, credits, GuildPolicy(db, credits.settings), clock)
    await add_job(credits, store, clock, user="alice", days_ago=0, cost=10, state=JobState.FAILED)
    clock.advance(5)
    await admin.add_term(G, "admin1", "dragon")
    clock.advance(5)
    await add_job(
        credits,
        store,
        clock,
        user="bob",
        days_ago=0,
        cost=15,
        state=JobState.DELIVERED,
        prompt="a boat",
    )
    entries = await reports.audit(G, limit=10)
    assert [(e.kind, e.actor_id, e.action, e.cost) for e in entries] == [
        ("job", "bob", "delivered", 15),
        ("admin", "admin1", "term_add", None),
        ("job", "alice", "failed", 0),  # refunded: cost nothing
    ]
    assert entries[0].text == "a boat" and '"term": "dragon"' in entries[1].text
    assert len(await reports.audit(G, limit=2)) == 2


def test_csv_round_trips_and_defuses_formulas() -> None:
    entries = [
        AuditEntry(1_790_000_000.0, "job", "42", "delivered", 15, "=HYPERLINK(evil)", 7),
        AuditEntry(1_790_000_100.0, "admin", "9", "grant", None, '{"credits": 5}'),
        AuditEntry(1_790_000_200.0, "job", "43", "failed", 0, 'crème, "brûlée"\nline 2', 8),
    ]
    table = audit_csv(entries)
    data = table.data
    assert (table.rows, table.total, table.shortened, table.note) == (3, 3, 0, "")
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read UTF-8 accents
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["time_utc", "kind", "user_id", "action", "credits", "job_id", "text"]
    assert rows[1] == [
        "2026-09-21 14:13:20",
        "job",
        "42",
        "delivered",
        "15",
        "7",
        "'=HYPERLINK(evil)",
    ]
    assert rows[2][4:6] == ["", ""] and rows[2][6] == '{"credits": 5}'
    assert rows[3][6] == 'crème, "brûlée"\nline 2'


def test_worst_case_csv_stays_uploadable() -> None:
    """5000 entries of 5000-character prompts in 4-byte characters."""
    nasty = "😀" * 5000
    entries = [
        AuditEntry(1_790_000_000.0 - n, "job", "1" * 20, "delivered", 15, nasty, 10**9 + n)
        for n in range(5000)
    ]
    table = audit_csv(entries)
    assert len(table.data) <= CSV_MAX_BYTES < 10 * 1024 * 1024
    assert 0 < table.rows < table.total == 5000 and table.shortened == table.rows
    assert f"newest {table.rows} of 5000" in table.note and "cut" in table.note
    rows = list(csv.reader(io.StringIO(table.data.decode("utf-8-sig"))))
    assert len(rows) == table.rows + 1
    assert rows[1][5] == str(10**9) and rows[-1][5] == str(10**9 + table.rows - 1)  # newest
    assert len(rows[1][6]) == CSV_MAX_TEXT and rows[1][6].endswith("…")
    # Quotes (doubled in CSV) and ASCII: every row fits, only the texts are cut.
    quotes = '"x' * 2500
    plain = [AuditEntry(1.0, "job", "1", "failed", 0, quotes, n) for n in range(5000)]
    table = audit_csv(plain)
    assert table.rows == 5000 and len(table.data) <= CSV_MAX_BYTES


def test_chart_is_a_png_of_the_expected_size() -> None:
    png = daily_spend_png([("2026-01-01", 0), ("2026-01-02", 30), ("2026-01-03", 10)])
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
    assert Image.open(io.BytesIO(daily_spend_png([]))).size == (WIDTH, HEIGHT)

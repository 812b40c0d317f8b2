"""What the poll schedule costs on a real job: the worker in virtual time (``simulate``)."""

from __future__ import annotations

from tests.doubles import simulate


async def test_three_hundred_second_job_costs_few_polls_and_no_delay() -> None:
    run = await simulate(300, 300)
    naive = 300 / 5
    assert run.polls * 5 <= naive  # at least five times fewer than a fixed 5-s poller
    assert 0 <= run.download_delay <= 5  # never later than one minimum interval

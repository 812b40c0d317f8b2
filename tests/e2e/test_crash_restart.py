"""SIGKILL the real bot process at chosen moments of a job's life; every job ends exactly once.

The default suite runs one trial per phase. The long run is behind an environment variable:

    CRASH_TRIALS=200 python -m pytest tests/e2e/test_crash_restart.py -q

(``CRASH_PARALLEL`` sets how many trials run at once, ``CRASH_SEED`` varies the random moments.)
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.doubles import PHASES, run_trials


async def test_sigkill_at_any_phase_ends_every_job_exactly_once(tmp_path: Path) -> None:
    count = int(os.environ.get("CRASH_TRIALS", "0")) or len(PHASES)
    parallel = int(os.environ.get("CRASH_PARALLEL", "4"))
    seed = int(os.environ.get("CRASH_SEED", "1"))
    started = time.monotonic()
    results = await run_trials(count, tmp_path, seed=seed, parallel=parallel)
    elapsed = time.monotonic() - started
    for result in results:
        print(result)
    bad = [r for r in results if r.problems]
    by_state: dict[str, int] = {}
    for result in results:
        by_state[result.state] = by_state.get(result.state, 0) + 1
    print(f"{len(results)} trials in {elapsed:.1f}s, outcomes {by_state}, {len(bad)} with problems")
    assert not bad, "\n".join(str(r) for r in bad)

"""Every solution notebook runs top to bottom against the real broker: nbval, --nbval-lax.

nbval runs in a child pytest so that this session's broker fixture is active: the child, and the
kernels it starts, inherit KAFKA_BOOTSTRAP_SERVERS. Generic over solutions/NN-slug/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eoslab.grading.course import assignments, source_notebook

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_DEADLINE_S = 240

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.mark.parametrize("assignment", assignments(REPO))
def test_solution_notebook_runs(kafka_bootstrap: str, assignment: str) -> None:
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                          "--timeout", str(NOTEBOOK_DEADLINE_S), "-o", "addopts=",
                          str(source_notebook(assignment, REPO).relative_to(REPO))],
                         cwd=REPO, capture_output=True, text=True, timeout=NOTEBOOK_DEADLINE_S + 60,
                         env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap})
    print(f"nbval {assignment}: {time.monotonic() - started:.1f} s")
    assert run.returncode == 0, run.stdout[-4000:]

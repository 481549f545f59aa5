"""The client benchmark runs end to end with ``--quick`` and ends with its ratios.

Only the shape of the output is checked: speed is judged by reading the
benchmark's figures, never by a timed test on a shared machine.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.registry import REGISTRY_BINARY

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "client_bench.py"
RATIO_NAMES = ("ratio_core_vs_baseline", "ratio_delete_vs_baseline")


@pytest.mark.timeout(900)
def test_quick_bench_prints_both_ratios_last() -> None:
    if shutil.which(REGISTRY_BINARY) is None and not os.environ.get("CI"):
        pytest.skip(f"{REGISTRY_BINARY} is not on PATH")

    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=840,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    last_two = done.stdout.strip().splitlines()[-2:]
    assert [line.partition("=")[0] for line in last_two] == list(RATIO_NAMES)
    values = [float(line.partition("=")[2]) for line in last_two]
    assert all(math.isfinite(value) and value > 0 for value in values)

"""How the window copes with big repositories. Prints figures and ratios.

    python bench/gui_bench.py [--tags 10000] [--rows 100000]

1. Tag rows on screen: a local registry gets a repository of ``--tags`` tags
   (``Seeder.push_many``); the window opens it, and the time until the rows
   are painted is compared with one plain GET of the tag list in the same run.
2. Event-loop stalls: while every digest and detail of that repository loads,
   a QTimer ticks every 10 ms and the largest gap between ticks is recorded.
   Goal: under 50 ms.
3. Memory: in a fresh process, ``--rows`` synthetic rows (tag, head and
   details each) go into the tag model behind its proxy and a table view,
   sorted by size and date; the peak resident size is read. Goal: 300 MB.

Everything runs on this machine at once, so the ratios matter more than the
absolute times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import requests

TICK_MS = 10
IDLE_S = 10.0
STALL_GOAL_MS = 50
MEMORY_GOAL_MB = 300
REPOSITORY = "bench/tags"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args.rows)
    with tempfile.TemporaryDirectory(prefix="regsweep-bench-") as workdir:
        _isolate(Path(workdir))
        registry_benchmarks(Path(workdir), args.tags)
    memory_benchmark(args.rows)
    return 0


def _isolate(workdir: Path) -> None:
    for name in ("CONFIG", "DATA", "LOG"):
        os.environ[f"REGSWEEP_{name}_DIR"] = str(workdir / name.lower())


# --- 1 and 2: against a registry ---------------------------------------------------


def registry_benchmarks(workdir: Path, count: int) -> None:
    from devtools.registry import start_registry
    from devtools.seed import Seeder

    with start_registry(workdir / "registry") as registry:
        started = time.perf_counter()
        with Seeder(registry) as seeder:
            seeder.push_many(REPOSITORY, count, workers=8)
        print(f"seeded {count:,} tags in {time.perf_counter() - started:.1f} s")
        get_s = plain_get(registry.url)
        shown_s, load_s, ticker, idle = window_run(registry.url)
    gaps = ticker.gaps

    print("\n== tag rows on screen ==")
    print(f"plain GET of the tag list (best of 5): {get_s * 1000:8.1f} ms")
    print(f"window: select -> rows painted:        {shown_s * 1000:8.1f} ms")
    print(f"ratio window / plain GET:              {shown_s / get_s:8.1f} x")
    print("\n== event loop while digests and details load ==")
    print(f"all {count:,} digests and details loaded in {load_s:.1f} s")
    print(f"{'gaps between 10 ms ticks':26}{'loading':>10}{'idle':>10}{'ratio':>8}")
    for label, measure in (
        ("longest", max),
        ("99th percentile", lambda g: _percentile(g, 99)),
        ("median", statistics.median),
    ):
        busy, calm = measure(gaps), measure(idle)
        print(f"{label:26}{busy:8.1f}ms{calm:8.1f}ms{busy / calm:8.1f}")
    print(f"longest gap / goal ({STALL_GOAL_MS} ms):  {max(gaps) / STALL_GOAL_MS:6.2f}")
    print("longest gaps, with the GUI thread's own CPU time in each:")
    for gap, cpu in ticker.worst(5):
        print(f"  {gap:7.1f} ms gap, {cpu:6.1f} ms of it working")
    busy_gaps = [g for g, c in zip(gaps, ticker.cpu, strict=True) if c > g / 2]
    print(
        f"longest gap in which the GUI thread was mostly working: "
        f"{max(busy_gaps, default=0):.1f} ms"
    )
    print(
        f"GUI thread CPU during the load: {sum(ticker.cpu) / 1000:.1f} s "
        f"of {load_s:.1f} s"
    )
    print("(idle: the same window doing nothing, measured just before, as the")
    print(" baseline this machine's load imposes on any event loop)")


def plain_get(url: str) -> float:
    times = []
    with requests.Session() as session:
        session.trust_env = False
        for _ in range(5):
            started = time.perf_counter()
            response = session.get(f"{url}/v2/{REPOSITORY}/tags/list", timeout=30)
            response.raise_for_status()
            response.json()
            times.append(time.perf_counter() - started)
    return min(times)


def window_run(url: str) -> tuple[float, float, _Ticker, list[float]]:
    """Open the repository in the window: (seconds to rows painted, seconds
    to everything loaded, gaps between 10 ms ticks during the load, gaps
    while the window sat idle beforehand)."""
    from PySide6.QtCore import QEventLoop, QTimer

    from core.profiles import Profile, ProfileStore
    from gui.app import create_app
    from gui.main_window import MainWindow
    from gui.state import WindowState
    from gui.tasks import GuiThreadCollector

    app = create_app([])
    GuiThreadCollector(app)
    store = ProfileStore()
    store.add(Profile("Bench", url), None)
    window = MainWindow(store, WindowState())
    window.show()
    _spin_until(lambda: REPOSITORY in window.repo_panel.model.names())

    marks: dict[str, float] = {}

    def on_tags_loaded(_found: object) -> None:
        window.tag_panel.table.viewport().repaint()  # the rows, painted now
        marks["shown"] = time.perf_counter()

    window.session.tags_loaded.connect(on_tags_loaded)
    idle = _Ticker()
    _spin_for(IDLE_S)
    idle.stop()
    ticker = _Ticker()
    started = time.perf_counter()
    window.repo_panel.select(REPOSITORY)
    _spin_until(lambda: _fully_loaded(window), timeout_s=600)
    loaded = time.perf_counter()
    ticker.stop()
    window.close()
    loop = QEventLoop()
    QTimer.singleShot(100, loop.quit)
    loop.exec()
    return marks["shown"] - started, loaded - started, ticker, idle.gaps


class _Ticker:
    """A 10 ms timer recording the time between its ticks, and how much CPU
    the GUI thread itself used in each gap (a gap with little CPU means the
    thread was waiting for a core or the GIL, not working)."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self.cpu: list[float] = []
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self._timer = QTimer()
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.gaps.append((now - self._last) * 1000)
        self.cpu.append((cpu - self._last_cpu) * 1000)
        self._last, self._last_cpu = now, cpu

    def worst(self, count: int) -> list[tuple[float, float]]:
        """The ``count`` longest gaps with the GUI thread's CPU in each."""
        pairs = sorted(zip(self.gaps, self.cpu, strict=True), reverse=True)
        return pairs[:count]

    def stop(self) -> None:
        self._timer.stop()


def _fully_loaded(window: object) -> bool:
    model = window.tag_model  # type: ignore[attr-defined]
    detailed, digests = model.digest_count()
    rows = model.rowCount()
    return rows > 0 and model.resolved_count() == rows and detailed == digests


def _spin_until(condition: object, timeout_s: float = 60) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + timeout_s
    loop = QEventLoop()
    poll = QTimer()
    poll.timeout.connect(lambda: condition() and loop.quit())  # type: ignore[operator]
    poll.start(20)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    poll.stop()
    if time.monotonic() > deadline:
        raise SystemExit("timed out waiting for the window")


def _spin_for(seconds: float) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def _percentile(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


# --- 3: memory ------------------------------------------------------------------------


def memory_benchmark(rows: int) -> None:
    result = subprocess.run(
        [sys.executable, __file__, "--memory-child", "--rows", str(rows)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    print(f"\n== memory with {rows:,} rows in the tag model ==")
    print(result.stdout.rstrip())


def memory_child(rows: int) -> int:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from gui.models import Column
    from gui.tag_panel import TagPanel

    app = QApplication([])
    baseline = _rss_mb("VmRSS")
    panel = TagPanel(_synthetic_model(rows))
    panel.resize(1200, 700)
    panel.show_table("synthetic")
    panel.show()
    app.processEvents()
    started = time.perf_counter()
    panel.table.sortByColumn(Column.SIZE, Qt.SortOrder.DescendingOrder)
    app.processEvents()
    sort_s = time.perf_counter() - started
    panel.table.sortByColumn(Column.CREATED, Qt.SortOrder.AscendingOrder)
    app.processEvents()
    peak = _rss_mb("VmHWM")
    print(f"resident after QApplication:   {baseline:7.1f} MB")
    print(
        f"peak resident, {rows:,} rows:   {peak:7.1f} MB (goal < {MEMORY_GOAL_MB} MB)"
    )
    print(f"of which the rows:             {peak - baseline:7.1f} MB")
    print(f"per row:                       {(peak - baseline) * 2**20 / rows:7.0f} B")
    print(f"sort {rows:,} rows by size:      {sort_s * 1000:7.0f} ms")
    print(f"peak / goal:                   {peak / MEMORY_GOAL_MB:7.2f}")
    return 0


def _synthetic_model(rows: int) -> object:
    """Rows as the registry would fill them: every string its own object."""
    from core.images import OCI_INDEX, OCI_MANIFEST, ImageDetails, ManifestHead
    from gui.models import TagTableModel

    model = TagTableModel()
    tags = [f"build-{n:06d}" for n in range(rows)]
    model.set_tags("synthetic", tags)
    epoch = datetime(2020, 1, 1, tzinfo=UTC)
    for first in range(0, rows, 1000):
        heads, details = {}, {}
        for n in range(first, min(rows, first + 1000)):
            digest = f"sha256:{n:064x}"
            media = "".join([OCI_INDEX if n % 10 == 0 else OCI_MANIFEST])
            heads[tags[n]] = ManifestHead(digest, media, 500 + n % 400)
            platforms = (
                ("linux/amd64", "linux/arm64") if n % 10 == 0 else ("linux/amd64",)
            )
            details[digest] = ImageDetails(
                digest,
                media,
                (n * 7919) % (6 * 1024**3),
                epoch + timedelta(minutes=n * 13 % 2_000_000),
                platforms,
            )
        model.merge(heads, details)
    return model


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


if __name__ == "__main__":
    sys.exit(main())

"""Resolving and deleting with core, side by side with plain ``requests`` code.

Seeds a local ``docker-registry`` (on tmpfs) and measures, in one run:

(a) core resolving every digest of a repository (``RegistryClient.resolve_all``);
(b) a baseline written here: a thread pool of HEAD requests (the four manifest
    types in ``Accept``) on one shared ``requests.Session``, best of 8/16/32 threads;
(c) the naive way: one GET per tag, sequentially, a new connection each time;
(d) deleting images with core, checks included (``build_plan`` then ``run_plan``),
    and (d') the same without run_plan's full re-resolve of the repository;
(e) a thread pool of 8 sending only the DELETEs.

Each round runs core right before or after every baseline configuration, in
rotating order, so the two see the same load; (d), (d') and (e) each delete the
same tags from their own identically seeded repository. Every figure is printed
for its shortest round; the ratios are medians over rounds of adjacent-run
ratios, which stay steady when other work loads the machine and the shortest
rounds do not. "CPU/item" is this process's CPU time (all threads, median of
rounds) per tag or image. The last two lines are the ratios core / baseline.

Run from the repository root: ``.venv/bin/python bench/client_bench.py [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.client import RegistryClient, RegistryConfig
from core.delete import Outcome, run_plan
from core.images import ACCEPT_HEADER
from core.plan import build_plan
from core.reference import ImageRef
from devtools.registry import REGISTRY_BINARY, start_registry
from devtools.seed import Seeder

BASELINE_THREADS = (8, 16, 32)
DELETE_THREADS = 8
SEED_CHUNK = 1000
TIMEOUT = 30.0
MEMORY_CHILD_TIMEOUT = 600.0

T = TypeVar("T")


class BenchError(RuntimeError):
    """The registry answered something a benchmark step did not expect."""


@dataclass(frozen=True)
class Sizes:
    small: int
    big: int
    delete: int
    rounds: int


FULL = Sizes(small=1000, big=10_000, delete=100, rounds=3)
QUICK = Sizes(small=100, big=300, delete=10, rounds=1)


@dataclass(frozen=True)
class Elapsed:
    wall: float  # seconds
    cpu: float  # seconds of this process's CPU, all threads


class Stopwatch:
    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()

    def read(self) -> Elapsed:
        return Elapsed(
            time.perf_counter() - self._wall, time.process_time() - self._cpu
        )


Digests = dict[str, str]  # tag -> manifest digest
Job = Callable[[], tuple[Elapsed, Digests]]


@dataclass
class Timing:
    """The rounds of one measurement; the best (shortest) one counts."""

    label: str
    items: int
    rounds: list[Elapsed] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(r.wall for r in self.rounds)

    @property
    def rate(self) -> float:
        return self.items / self.best

    def report(self) -> None:
        walls = ", ".join(f"{r.wall:.2f}" for r in self.rounds)
        cpu = statistics.median(r.cpu for r in self.rounds) / self.items * 1e6
        print(
            f"{self.label:<42} {self.best:7.3f} s {self.rate:7.1f}/s "
            f"{cpu:6.0f} us  ({walls})"
        )


@dataclass
class Pair:
    """Core and one baseline configuration, run side by side each round."""

    core: Timing
    plain: Timing
    plain_job: Job

    def paired_ratio(self) -> float:
        return paired_ratio(self.core, self.plain)


def paired_ratio(core: Timing, plain: Timing) -> float:
    """Core / baseline throughput: the median over rounds of baseline time /
    core time, the two runs of a round having been made one after the other."""
    walls = zip(core.rounds, plain.rounds, strict=True)
    return statistics.median(plain.wall / core.wall for core, plain in walls)


@dataclass(frozen=True)
class DeleteCopies:
    """Identically seeded repositories, one per contender, and what to delete."""

    repos: dict[str, str]  # contender key -> repository
    victims: tuple[str, ...]
    size: int


# (url, repository, tags to delete) -> (time taken, requests sent)
DeleteJob = Callable[[str, str, Sequence[str]], tuple[Elapsed, int]]


@dataclass
class Contender:
    key: str
    timing: Timing
    job: DeleteJob
    sent: list[int] = field(default_factory=list)


# --- seeding -----------------------------------------------------------------------


def seed(seeder: Seeder, repo: str, count: int, salt: str) -> list[str]:
    """Push ``count`` tags, each its own manifest, in chunks that show progress."""
    started = time.perf_counter()
    tags: list[str] = []
    for chunk, first in enumerate(range(0, count, SEED_CHUNK)):
        size = min(SEED_CHUNK, count - first)
        pushed = seeder.push_many(repo, size, prefix=f"c{chunk}-", salt=salt)
        tags.extend(pushed)
        elapsed = time.perf_counter() - started
        print(f"  seeded {repo}: {len(tags)}/{count} tags ({elapsed:.1f} s)")
    return sorted(tags)


def seed_delete_copies(
    seeder: Seeder, round_: int, sizes: Sizes, keys: Sequence[str]
) -> DeleteCopies:
    # The same salt gives the same manifests: every copy holds identical tags
    # and digests.
    repos = {key: f"bench/delete-{key}-{round_}" for key in keys}
    tag_lists = [
        seed(seeder, repo, sizes.small, f"delete-{round_}") for repo in repos.values()
    ]
    if any(tags != tag_lists[0] for tags in tag_lists):
        raise BenchError("the deletion copies got different tags")
    tags = tag_lists[0]
    victims = tuple(tags[:: len(tags) // sizes.delete][: sizes.delete])
    return DeleteCopies(repos, victims, sizes.small)


def rotated(items: Sequence[T], shift: int) -> list[T]:
    """``items`` starting at ``shift`` (mod length), so no item always runs first."""
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


# --- resolving ---------------------------------------------------------------------


def core_resolve(
    url: str, repo: str, tags: list[str], workers: int
) -> tuple[Elapsed, Digests]:
    """(a): ``resolve_all`` with the tag list given, as the GUI calls it."""
    with RegistryClient(RegistryConfig(url, workers=workers)) as client:
        watch = Stopwatch()
        heads = client.resolve_all(repo, tags)
        elapsed = watch.read()
    return elapsed, {tag: head.digest for tag, head in heads.items()}


def baseline_resolve(
    url: str, repo: str, tags: Sequence[str], threads: int
) -> tuple[Elapsed, Digests]:
    """(b): HEADs on a thread pool sharing one session."""
    with _session(threads) as session:
        watch = Stopwatch()
        with ThreadPoolExecutor(threads) as pool:
            digests = pool.map(partial(_head_digest, session, url, repo), tags)
            found = dict(zip(tags, digests, strict=True))
        return watch.read(), found


def naive_resolve(url: str, repo: str, tags: Sequence[str]) -> tuple[Elapsed, Digests]:
    """(c): one GET per tag, one after another, each on a new connection."""
    found: Digests = {}
    watch = Stopwatch()
    for tag in tags:
        response = requests.get(
            _manifest_url(url, repo, tag),
            headers={"Accept": ACCEPT_HEADER},
            timeout=TIMEOUT,
        )
        found[tag] = _digest_header(response)
    return watch.read(), found


def _session(pool_size: int) -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=pool_size)
    session.mount("http://", adapter)
    return session


def _head_digest(session: requests.Session, url: str, repo: str, tag: str) -> str:
    response = session.head(
        _manifest_url(url, repo, tag),
        headers={"Accept": ACCEPT_HEADER},
        timeout=TIMEOUT,
    )
    return _digest_header(response)


def _digest_header(response: requests.Response) -> str:
    digest = response.headers.get("Docker-Content-Digest")
    if response.status_code != 200 or not digest:
        raise BenchError(f"{response.url} answered HTTP {response.status_code}")
    return digest


def _manifest_url(url: str, repo: str, reference: str) -> str:
    return f"{url}/v2/{repo}/manifests/{reference}"


def bench_resolve(
    url: str, repo: str, tags: list[str], rounds: int, workers: int
) -> float:
    """Run (a), (b) and (c) on one repository; return (a)/(b) throughput."""
    print(f"\n== resolving {repo}: {len(tags)} tags, {rounds} round(s){_load()}")
    pairs = [
        Pair(
            Timing(f"(a) core, next to {n} threads", len(tags)),
            Timing(f"(b) baseline HEAD pool, {n} threads", len(tags)),
            partial(baseline_resolve, url, repo, tags, n),
        )
        for n in BASELINE_THREADS
    ]
    expected = _run_pairs(
        pairs, partial(core_resolve, url, repo, tags, workers), rounds
    )
    core = Timing(f"(a) core resolve_all, {workers} workers", len(tags))
    core.rounds = [elapsed for pair in pairs for elapsed in pair.core.rounds]

    naive = Timing("(c) naive sequential GET, new connections", len(tags))
    elapsed, found = naive_resolve(url, repo, tags)
    _check_same(found, expected, naive.label)
    naive.rounds.append(elapsed)

    _print_header()
    for timing in (core, *(pair.plain for pair in pairs), naive):
        timing.report()
    for pair, threads in zip(pairs, BASELINE_THREADS, strict=True):
        print(
            f"(a)/(b) {threads:>2} threads: {core.rate / pair.plain.rate:.3f} "
            f"shortest rounds, {pair.paired_ratio():.3f} median of adjacent pairs"
        )
    return min(pair.paired_ratio() for pair in pairs)


def _run_pairs(pairs: list[Pair], core_job: Job, rounds: int) -> Digests:
    """Each round runs core right before or after every baseline configuration,
    so core gets as many tries as the baseline and each baseline round has a
    core round beside it, under the same load."""
    expected: Digests | None = None
    for round_ in range(rounds):
        for pair in rotated(pairs, round_):
            steps = [(pair.core, core_job), (pair.plain, pair.plain_job)]
            for timing, job in steps if round_ % 2 == 0 else steps[::-1]:
                elapsed, found = job()
                expected = expected if expected is not None else found
                _check_same(found, expected, timing.label)
                timing.rounds.append(elapsed)
    if expected is None:
        raise BenchError("no rounds were run")
    return expected


def _load() -> str:
    return f" (load average {os.getloadavg()[0]:.1f})"


def _print_header() -> None:
    print(f"{'':<42} {'best':>9} {'rate':>9} {'CPU/item':>9}  (wall s per round)")


def _check_same(found: Digests, expected: Digests, label: str) -> None:
    if found != expected:
        raise BenchError(f"{label} resolved other digests than the first run")


# --- peak memory (in a child process) --------------------------------------------


def bench_memory(url: str, repo: str, workers: int) -> None:
    """Run (a) in a fresh interpreter and report how much memory it took."""
    command = [sys.executable, str(Path(__file__).resolve()), "--workers", str(workers)]
    command += ["--memory-child", url, repo]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=MEMORY_CHILD_TIMEOUT,
        check=True,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    rss, traced = figures["rss_kib"] / 1024, figures["traced"] / 2**20
    print(f"\n== peak memory of (a), {repo}: {figures['resolved']} tags, child process")
    print(f"peak RSS growth (VmHWM) during resolve_all {rss:7.1f} MiB")
    print(f"tracemalloc peak during resolve_all        {traced:7.1f} MiB")
    print(
        "(VmHWM: the child's peak resident size after resolve_all minus before it,\n"
        " core imported and the tag list fetched; thread stacks and allocator slack\n"
        " included. ru_maxrss is not used: on Linux a child started by a big parent\n"
        " inherits the parent's figure. tracemalloc: peak of Python allocations\n"
        " during a second resolve_all, tracing on; no C-level or stack memory.)"
    )


def memory_child(url: str, repo: str, workers: int) -> int:
    """The child's side: measure, print one JSON line."""
    with RegistryClient(RegistryConfig(url, workers=workers)) as client:
        tags = client.tags(repo)
        gc.collect()
        before = _peak_rss_kib()
        heads = client.resolve_all(repo, tags)
        rss_kib = _peak_rss_kib() - before
        del heads
        gc.collect()

        tracemalloc.start()
        resolved = len(client.resolve_all(repo, tags))
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(json.dumps({"resolved": resolved, "rss_kib": rss_kib, "traced": traced}))
    return 0


def _peak_rss_kib() -> int:
    """This process's peak resident size so far (``VmHWM``), in KiB."""
    status = Path("/proc/self/status").read_text(encoding="ascii")
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1])


# --- deleting ----------------------------------------------------------------------


def core_delete(
    url: str, repo: str, victims: Sequence[str], *, workers: int, recheck_all: bool
) -> tuple[Elapsed, int]:
    """(d): ``build_plan`` with ``known`` = the heads of a fresh ``resolve_all``
    (what the GUI's table holds; resolved before the clock starts), then
    ``run_plan``, which fetches each manifest again before its DELETE and, with
    ``recheck_all``, resolves every tag once more before the first DELETE.
    Returns the time and the requests sent while timed."""
    with RegistryClient(RegistryConfig(url, workers=workers)) as client:
        known = {repo: client.resolve_all(repo)}
        refs = [ImageRef(repo, tag=tag) for tag in victims]
        sent_before = client.requests_sent
        watch = Stopwatch()
        plan = build_plan(client, refs, known=known)
        results = run_plan(
            client,
            plan.items,
            workers=min(workers, DELETE_THREADS),
            recheck_all_tags=recheck_all,
        )
        elapsed = watch.read()
        sent = client.requests_sent - sent_before
    deleted = [r for r in results if r.outcome is Outcome.DELETED]
    if plan.problems or len(deleted) != len(victims):
        raise BenchError(f"core deleted {len(deleted)} of {len(victims)} images")
    return elapsed, sent


def baseline_delete(url: str, repo: str, victims: Sequence[str]) -> tuple[Elapsed, int]:
    """(e): DELETE by digest on a pool of 8 threads, digests resolved untimed."""
    _, digests = baseline_resolve(url, repo, victims, DELETE_THREADS)
    targets = [_manifest_url(url, repo, digest) for digest in digests.values()]
    with _session(DELETE_THREADS) as session:
        watch = Stopwatch()
        with ThreadPoolExecutor(DELETE_THREADS) as pool:
            list(pool.map(partial(_delete, session), targets))
        return watch.read(), len(targets)


def _delete(session: requests.Session, url: str) -> None:
    response = session.delete(url, timeout=TIMEOUT)
    if response.status_code != 202:
        raise BenchError(f"DELETE {url} answered HTTP {response.status_code}")


def delete_contenders(workers: int, count: int) -> list[Contender]:
    threads = min(workers, DELETE_THREADS)
    core = partial(core_delete, workers=workers)
    return [
        Contender(
            "core",
            Timing(f"(d) core plan + run_plan, {threads} workers", count),
            partial(core, recheck_all=True),
        ),
        Contender(
            "core-no-recheck-all",
            Timing("(d') the same, recheck_all_tags=False", count),
            partial(core, recheck_all=False),
        ),
        Contender(
            "plain",
            Timing(f"(e) baseline DELETE pool, {DELETE_THREADS} threads", count),
            baseline_delete,
        ),
    ]


def bench_delete(url: str, copies: Sequence[DeleteCopies], workers: int) -> float:
    """Each contender deletes the same tags from its own copy, once per round,
    in rotating order; return (d)/(e) throughput."""
    count, size = len(copies[0].victims), copies[0].size
    print(f"\n== deleting {count} of {size} tags, {len(copies)} round(s){_load()}")
    contenders = delete_contenders(workers, count)
    for round_, repos in enumerate(copies):
        for contender in rotated(contenders, round_):
            repo = repos.repos[contender.key]
            elapsed, sent = contender.job(url, repo, repos.victims)
            contender.timing.rounds.append(elapsed)
            contender.sent.append(sent)
        _check_remaining(url, repos)

    _print_header()
    for contender in contenders:
        contender.timing.report()
    for contender in contenders:
        per_image = max(contender.sent) / count
        print(f"requests per deleted image, {contender.key:<20} {per_image:6.2f}")
    core, unchecked, plain = (c.timing for c in contenders)
    for label, timing in (("(d)/(e) ", core), ("(d')/(e)", unchecked)):
        print(
            f"{label}: {timing.rate / plain.rate:.3f} shortest rounds, "
            f"{paired_ratio(timing, plain):.3f} median of same-round ratios"
        )
    print(
        "(d) is what the GUI runs: run_plan's default recheck_all_tags resolves\n"
        f"every tag of the repository ({size} HEADs + the tag list) before the first\n"
        "DELETE, then GETs each picked tag's manifest right before its DELETE.\n"
        "(d') keeps the per-image GET re-check but not the full re-resolve."
    )
    return paired_ratio(core, plain)


def _check_remaining(url: str, copies: DeleteCopies) -> None:
    """Every copy must end with the same tags, the victims gone."""
    left = [_tag_list(url, repo) for repo in copies.repos.values()]
    expected = copies.size - len(copies.victims)
    same = all(tags == left[0] for tags in left)
    if not same or len(left[0]) != expected or set(copies.victims) & left[0]:
        raise BenchError("after deletion the copies differ or hold the wrong tags")


def _tag_list(url: str, repo: str) -> set[str]:
    response = requests.get(f"{url}/v2/{repo}/tags/list", timeout=TIMEOUT)
    response.raise_for_status()
    return set(response.json().get("tags") or [])


# --- the run -----------------------------------------------------------------------


def run(url: str, seeder: Seeder, sizes: Sizes, workers: int) -> tuple[float, float]:
    print("\n== seeding")
    small = seed(seeder, "bench/small", sizes.small, "small")
    big = seed(seeder, "bench/big", sizes.big, "big")
    keys = [c.key for c in delete_contenders(workers, sizes.delete)]
    copies = [seed_delete_copies(seeder, r, sizes, keys) for r in range(sizes.rounds)]

    ratios = [
        bench_resolve(url, repo, tags, sizes.rounds, workers)
        for repo, tags in (("bench/small", small), ("bench/big", big))
    ]
    bench_memory(url, "bench/big", workers)
    delete_ratio = bench_delete(url, copies, workers)
    print(
        "\nBoth ratios are medians of adjacent-run ratios. ratio_core_vs_baseline:\n"
        "the lowest over both repositories and the three baseline thread counts.\n"
        "ratio_delete_vs_baseline: (d)/(e), run_plan with its defaults."
    )
    return min(ratios), delete_ratio


def describe(sizes: Sizes, workers: int) -> None:
    version = subprocess.run(
        [REGISTRY_BINARY, "--version"], capture_output=True, text=True, timeout=10
    ).stdout.strip()
    print(f"registry: {version}, 127.0.0.1, storage on tmpfs")
    print(f"machine: {os.cpu_count()} CPUs{_load()}; python {sys.version.split()[0]}")
    print(f"sizes: {sizes}; core workers: {workers}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one round")
    parser.add_argument(
        "--workers", type=int, default=16, help="core's resolve workers (default 16)"
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds of each measurement (default 3; 1 quick)"
    )
    parser.add_argument(
        "--memory-child", nargs=2, metavar=("URL", "REPO"), help=argparse.SUPPRESS
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        url, repo = args.memory_child
        return memory_child(url, repo, args.workers)
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = replace(sizes, rounds=args.rounds)
    describe(sizes, args.workers)
    with tempfile.TemporaryDirectory(prefix="regsweep-bench-") as workdir:
        registry = start_registry(Path(workdir), memory_storage=True)
        try:
            with Seeder(registry) as seeder:
                resolve_ratio, delete_ratio = run(
                    registry.url, seeder, sizes, args.workers
                )
        finally:
            registry.close()
    print(f"ratio_core_vs_baseline={resolve_ratio:.3f}")
    print(f"ratio_delete_vs_baseline={delete_ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Planning clean-up rules on a registry of many repositories.

Seeds a local ``docker-registry`` (on tmpfs) with REPOS repositories of TAGS tags
each: most tags are their own manifest sharing one config (``push_many``), a
few per repository are full images with their own config and created dates.
Then, for each round, on a fresh client (so no details are cached):

- ``collect``: the catalog, every tag resolved, the details of every digest;
- ``evaluate``: the rules applied, pure computation.

The time to a complete plan is their sum. Waiting versus computing is shown
three ways: ``evaluate`` against ``collect``; the CPU seconds this process and
the registry process spent during ``collect``; and a sequential sample (one
worker, SAMPLE_REPOS repositories), timed around the client's ``requests``
session: the wall time inside requests minus the CPU the sending thread spent
there is waiting for the registry; that CPU is the HTTP library working; the
time outside requests is the rest of the client. In the parallel rounds some
request is nearly always in flight, so a wall-time split says little there.

Run from the repository root: ``.venv/bin/python bench/prune_bench.py``
(``--repos 10 --tags 50`` for a quick run).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.client import RegistryClient, RegistryConfig
from core.prune import collect
from core.rules import Rules
from core.verdicts import evaluate
from devtools.registry import REGISTRY_BINARY, LocalRegistry, start_registry
from devtools.seed import Seeder

DATED_PER_REPO = 10
SAMPLE_REPOS = 10
RULES = Rules(
    keep_newest=10,
    older_than="90d",
    protect=("latest", r"^v\d+\.\d+\.\d+$"),
    undated="by-name",
)


class RequestClock:
    """Times every request a ``requests.Session`` sends, from any thread."""

    def __init__(self, session: requests.Session) -> None:
        self.spans: list[tuple[float, float]] = []
        self.cpu = 0.0  # CPU seconds of the sending threads inside requests
        self._lock = threading.Lock()
        send: Callable[..., requests.Response] = session.request

        def timed(*args: Any, **kwargs: Any) -> requests.Response:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return send(*args, **kwargs)
            finally:
                spent = time.thread_time() - cpu
                with self._lock:
                    self.spans.append((started, time.perf_counter()))
                    self.cpu += spent

        session.request = timed  # type: ignore[method-assign]

    @property
    def busy(self) -> float:
        """Seconds summed over requests (more than wall time when parallel)."""
        return sum(end - start for start, end in self.spans)

    @property
    def in_flight(self) -> float:
        """Wall seconds during which at least one request was under way."""
        total, reach = 0.0, float("-inf")
        for start, end in sorted(self.spans):
            if end > reach:
                total += end - max(start, reach)
                reach = end
        return total


@dataclass
class Round:
    collect: float
    evaluate: float
    in_flight: float
    busy: float
    request_cpu: float
    client_cpu: float
    registry_cpu: float
    requests: int
    tags: int
    changes: int

    @property
    def plan(self) -> float:
        return self.collect + self.evaluate


# --- seeding -----------------------------------------------------------------------


def seed(seeder: Seeder, repos: int, tags: int) -> None:
    started = time.perf_counter()
    names = repo_names(repos)
    for done, name in enumerate(names, 1):
        seeder.push_many(name, tags - DATED_PER_REPO, prefix="build-", workers=16)
        if done % 10 == 0 or done == repos:
            elapsed = time.perf_counter() - started
            print(f"  seeded {done}/{repos} repositories ({elapsed:.0f} s)")
    jobs = [(name, n) for name in names for n in range(DATED_PER_REPO)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda job: _dated_image(seeder, *job), jobs))
    print(f"  seeding done in {time.perf_counter() - started:.0f} s")


def repo_names(count: int) -> list[str]:
    return [f"bench/app-{n:03d}" for n in range(count)]


def _dated_image(seeder: Seeder, repo: str, n: int) -> None:
    created = datetime.now(UTC) - timedelta(days=30 * n + 1)
    tags = [f"v1.{n}.0"] + (["latest"] if n == 0 else [])
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    seeder.push_image(repo, tags, created=stamp, salt=f"{repo}/{n}")


# --- measuring ---------------------------------------------------------------------


def measure(
    registry: LocalRegistry, workers: int, repositories: list[str] | None = None
) -> Round:
    config = RegistryConfig(registry.url, workers=workers)
    with RegistryClient(config) as client:
        clock = RequestClock(client._session)  # the bench looks inside on purpose
        cpu, registry_cpu = time.process_time(), process_cpu(registry.pid)
        started = time.perf_counter()
        inventory = collect(client, RULES, repositories=repositories, workers=workers)
        collected = time.perf_counter()
        cpu, registry_cpu = (
            time.process_time() - cpu,
            process_cpu(registry.pid) - registry_cpu,
        )
        plan = evaluate(RULES, inventory, datetime.now(UTC))
        done = time.perf_counter()
    if inventory.problems:
        raise RuntimeError(f"collect met problems: {dict(inventory.problems)}")
    return Round(
        collect=collected - started,
        evaluate=done - collected,
        in_flight=clock.in_flight,
        busy=clock.busy,
        request_cpu=clock.cpu,
        client_cpu=cpu,
        registry_cpu=registry_cpu,
        requests=client.requests_sent,
        tags=len(plan.verdicts),
        changes=len(plan.changes),
    )


def process_cpu(pid: int | None) -> float:
    """User plus system CPU seconds of a process, from /proc."""
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def report(rounds: list[Round], sample: Round, repos: int) -> None:
    print(f"\n{'round':<6}{'plan s':>8}{'collect':>9}{'evaluate':>10}{'req/tag':>9}")
    for n, r in enumerate(rounds, 1):
        print(
            f"{n:<6}{r.plan:8.2f}{r.collect:9.2f}{r.evaluate:10.3f}"
            f"{r.requests / r.tags:9.2f}"
        )
    best = min(rounds, key=lambda r: r.plan)
    idle = best.collect - best.in_flight
    print(f"\nbest round: {best.tags} tags in {repos} repositories")
    print(f"time to a complete plan        {best.plan:8.2f} s")
    print(f"  collect (registry + client)  {best.collect:8.2f} s")
    print(f"  evaluate (pure computing)    {best.evaluate:8.3f} s")
    print(f"requests sent                  {best.requests:8d}")
    print(f"requests per tag               {best.requests / best.tags:8.2f}")
    print(f"tags per second                {best.tags / best.plan:8.0f}")
    print(f"tags the rules would change    {best.changes:8d}")
    print("\nwithin collect, best round:")
    print(f"  some request in flight       {best.in_flight:8.2f} s (wall)")
    print(f"  no request in flight         {idle:8.2f} s")
    print(f"  request time, summed         {best.busy:8.2f} s over threads")
    print(f"  CPU of this process          {best.client_cpu:8.2f} s")
    print(f"    of which inside requests   {best.request_cpu:8.2f} s")
    print(f"  CPU of the registry          {best.registry_cpu:8.2f} s")
    waited = sample.in_flight - sample.request_cpu
    waiting = waited / sample.collect
    print(f"\nsequential sample: {sample.tags} tags, 1 worker")
    print(f"  collect                      {sample.collect:8.2f} s")
    print(f"  waiting for the registry     {waited:8.2f} s")
    print(f"  client CPU inside requests   {sample.request_cpu:8.2f} s (HTTP library)")
    print(f"  client outside requests      {sample.collect - sample.in_flight:8.2f} s")
    print(f"  CPU of this process          {sample.client_cpu:8.2f} s")
    print(f"  CPU of the registry          {sample.registry_cpu:8.2f} s")
    print(f"ratio_evaluate_vs_plan={best.evaluate / best.plan:.4f}")
    print(f"ratio_waiting_vs_collect_sequential={waiting:.3f}")
    print(f"ratio_requests_per_tag={best.requests / best.tags:.3f}")


# --- the run -----------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repos", type=int, default=100)
    parser.add_argument("--tags", type=int, default=200, help="per repository")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    if args.tags <= DATED_PER_REPO:
        parser.error(f"--tags must be more than {DATED_PER_REPO}")
    return args


def main() -> int:
    args = parse_args()
    version = subprocess.run(
        [REGISTRY_BINARY, "--version"], capture_output=True, text=True, timeout=10
    ).stdout.strip()
    print(f"registry: {version}, 127.0.0.1, storage on tmpfs")
    print(f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}")
    print(f"{args.repos} repositories x {args.tags} tags; workers {args.workers}")
    print(f"rules: {RULES.describe()}")
    with tempfile.TemporaryDirectory(prefix="regsweep-prune-bench-") as workdir:
        registry = start_registry(Path(workdir), memory_storage=True)
        try:
            with Seeder(registry) as seeder:
                seed(seeder, args.repos, args.tags)
            rounds = [measure(registry, args.workers) for _ in range(args.rounds)]
            names = repo_names(min(args.repos, SAMPLE_REPOS))
            sample = measure(registry, 1, names)
        finally:
            registry.close()
    report(rounds, sample, args.repos)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared fixtures: real ``docker-registry`` processes, one per test, in ``tmp_path``.

Without the binary the registry tests are skipped, except under CI, where a missing
registry fails them: CI must never pass by testing nothing.
"""

from __future__ import annotations

import os

# GUI tests need a platform that works without a display; set before Qt loads.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import contextlib
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from devtools.registry import REGISTRY_BINARY, LocalRegistry, start_registry
from devtools.seed import Seeder

BIG_CATALOG_SIZE = 160


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _require(binary: str, package: str) -> None:
    if shutil.which(binary) is not None:
        return
    reason = f"{binary} is not on PATH (apt-get install {package})"
    if _under_ci():
        pytest.fail(f"{reason}; CI must run the registry tests")
    pytest.skip(reason)


@contextlib.contextmanager
def _running_registry(workdir: Path, **options: Any) -> Iterator[LocalRegistry]:
    _require(REGISTRY_BINARY, "docker-registry")
    if options.get("auth") == "basic":
        _require("htpasswd", "apache2-utils")
    with start_registry(workdir, **options) as registry:
        yield registry


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    """Anonymous registry, deletion enabled."""
    with _running_registry(tmp_path / "registry") as started:
        yield started


@pytest.fixture
def basic_registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    """htpasswd auth; ``username``/``password`` hold the one user."""
    with _running_registry(tmp_path / "registry", auth="basic") as started:
        yield started


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    """Bearer tokens from an in-process token server (``token_server``)."""
    with _running_registry(tmp_path / "registry", auth="token") as started:
        yield started


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    """HTTPS with a fresh CA in ``ca_file``; anonymous."""
    with _running_registry(tmp_path / "registry", tls=True) as started:
        yield started


@pytest.fixture
def nodelete_registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    """``storage.delete.enabled: false``: manifest DELETEs answer 405."""
    with _running_registry(tmp_path / "registry", delete_enabled=False) as started:
        yield started


@pytest.fixture(params=["none", "basic", "token", "tls"])
def any_registry(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[LocalRegistry]:
    """Each access variant in turn: anonymous, basic, token, anonymous over TLS."""
    variant: str = request.param
    options: dict[str, Any] = {"tls": True} if variant == "tls" else {"auth": variant}
    with _running_registry(tmp_path / "registry", **options) as started:
        yield started


@pytest.fixture
def seeder(registry: LocalRegistry) -> Iterator[Seeder]:
    with Seeder(registry) as seeder:
        yield seeder


@pytest.fixture(scope="session")
def big_catalog_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LocalRegistry]:
    """Read-only: ``big/repo-000`` ... ``big/repo-159``, one image tagged ``1`` each."""
    workdir = tmp_path_factory.mktemp("big-catalog")
    names = [f"big/repo-{i:03d}" for i in range(BIG_CATALOG_SIZE)]
    with _running_registry(workdir, memory_storage=True) as registry:
        with Seeder(registry) as seeder, ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda name: seeder.push_image(name, ["1"]), names))
        yield registry


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own log, data (journal) and config directories, so
    no test reads or writes the user's real ones."""
    for name, sub in (
        ("REGSWEEP_LOG_DIR", "logs"),
        ("REGSWEEP_DATA_DIR", "data"),
        ("REGSWEEP_CONFIG_DIR", "config"),
    ):
        monkeypatch.setenv(name, str(tmp_path / "regsweep" / sub))

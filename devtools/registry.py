"""Start and stop real ``docker-registry`` processes for tests, benchmarks and demos.

Each registry lives in its own work directory (config, storage, log, keys) on a free
port of 127.0.0.1. It is stopped by the PID this module started, never by name.
The configuration is deliberately plain: filesystem storage, log level ``warn``, and
no in-memory blob descriptor cache, which would hide damage until a restart.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import requests

from devtools.certs import write_tls_files
from devtools.session import AdminSession, BearerMinter
from devtools.token_server import TokenServer

AuthMode = Literal["none", "basic", "token"]

REGISTRY_BINARY = "docker-registry"
DEFAULT_USERS = {"alice": "wonderland-pw"}
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
LOG_TAIL_LINES = 30
MEMORY_ROOT = Path("/dev/shm")
MEMORY_PREFIX = "regsweep-registry-"

# Strong references: a registry nobody refers to any more must still be stopped.
_running: set[LocalRegistry] = set()


class RegistryStartError(RuntimeError):
    """The registry process exited or did not answer ``/v2/`` in time."""


@dataclass(eq=False)
class LocalRegistry:
    """A ``docker-registry serve`` process and everything needed to talk to it.

    ``stop()`` ends only the process; ``close()`` also stops the token server.
    Use ``stop()``, ``garbage_collect()``, ``start()`` to collect garbage, since the
    registry must not run while ``garbage-collect`` does.
    """

    url: str
    port: int
    workdir: Path
    storage_dir: Path
    config_path: Path
    log_path: Path
    auth: AuthMode
    users: dict[str, str]
    ca_file: Path | None = None
    token_server: TokenServer | None = None
    owns_storage: bool = False
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def username(self) -> str | None:
        """The first configured user, or None for an anonymous registry."""
        return next(iter(self.users), None) if self.auth != "none" else None

    @property
    def password(self) -> str | None:
        return self.users[self.username] if self.username is not None else None

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def verify(self) -> str | bool:
        """The ``verify=`` value for requests: the CA file under TLS."""
        return str(self.ca_file) if self.ca_file is not None else True

    def start(self) -> None:
        """Start the process on the configured port and wait until it answers."""
        if self.running:
            return
        self._log = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                [*_die_with_parent(), REGISTRY_BINARY, "serve", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
        except OSError:
            self.stop()
            raise
        _running.add(self)
        try:
            self._wait_until_ready()
        except RegistryStartError:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate the process this object started; kill it if it lingers."""
        process, self._process = self._process, None
        if process is not None:
            _end_process(process)
        if self._log is not None:
            self._log.close()
            self._log = None
        _running.discard(self)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the registry and its token server; drop in-memory storage."""
        self.stop()
        if self.token_server is not None:
            self.token_server.close()
        if self.owns_storage:
            shutil.rmtree(self.storage_dir, ignore_errors=True)

    def __enter__(self) -> LocalRegistry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def garbage_collect(
        self, *, dry_run: bool = False, delete_untagged: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker-registry garbage-collect`` on this registry's storage.

        The registry must be stopped first (``stop()``; ``start()`` afterwards):
        collecting while it serves can delete blobs of uploads in progress.
        """
        if self.running:
            raise RuntimeError("stop the registry before collecting garbage")
        command = [REGISTRY_BINARY, "garbage-collect"]
        command += ["--dry-run"] * dry_run + ["--delete-untagged"] * delete_untagged
        return subprocess.run(
            [*command, str(self.config_path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )

    def admin_session(self, *, pool_size: int = 16) -> AdminSession:
        """A session with every right on this registry (close it when done)."""
        auth: BearerMinter | tuple[str, str] | None = None
        if self.token_server is not None:
            auth = BearerMinter(self.token_server.admin_token)
        elif self.username is not None and self.password is not None:
            auth = (self.username, self.password)
        return AdminSession(
            self.url, verify=self.verify, auth=auth, pool_size=pool_size
        )

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        with requests.Session() as session:
            session.trust_env = False
            while time.monotonic() < deadline and self.running:
                # Checked again after the answer: it may have come from another
                # process that held the port while this one failed to bind.
                if _answers(session, f"{self.url}/v2/", self.verify) and self.running:
                    return
                time.sleep(0.05)
        raise RegistryStartError(
            f"registry on port {self.port} did not start; log tail:\n{self.log_tail()}"
        )


def start_registry(
    workdir: Path,
    *,
    auth: AuthMode = "none",
    tls: bool = False,
    delete_enabled: bool = True,
    users: dict[str, str] | None = None,
    token_acl: dict[str, set[str]] | None = None,
    token_expires_in: int = 60,
    memory_storage: bool = False,
) -> LocalRegistry:
    """Write a config under ``workdir`` and start a registry with it.

    ``users`` defaults to ``DEFAULT_USERS``; it feeds the htpasswd file (``basic``)
    or the token server (``token``). ``token_acl`` is passed to ``TokenServer``.
    ``memory_storage`` keeps the blobs on tmpfs (``/dev/shm``) when there is one,
    deleted by ``close()``: the registry fsyncs every file it writes, which makes
    bulk pushes about three times slower on disk.
    """
    if shutil.which(REGISTRY_BINARY) is None:
        raise RegistryStartError(f"{REGISTRY_BINARY} is not on PATH")
    workdir.mkdir(parents=True, exist_ok=True)
    users = dict(DEFAULT_USERS if users is None else users)
    storage_dir, owns_storage = _storage_dir(workdir, memory_storage)
    token_server = None
    if auth == "token":
        token_server = TokenServer(
            workdir, users=users, acl=token_acl, expires_in=token_expires_in
        )

    config = _base_config(storage_dir, delete_enabled)
    try:
        registry = _start_on_free_port(workdir, config, auth, tls, users, token_server)
    except BaseException:
        if token_server is not None:
            token_server.close()
        if owns_storage:
            shutil.rmtree(storage_dir, ignore_errors=True)
        raise
    registry.owns_storage = owns_storage
    return registry


def _storage_dir(workdir: Path, in_memory: bool) -> tuple[Path, bool]:
    if in_memory and MEMORY_ROOT.is_dir() and os.access(MEMORY_ROOT, os.W_OK):
        _remove_orphaned_memory_storage()
        prefix = f"{MEMORY_PREFIX}{os.getpid()}-"
        return Path(tempfile.mkdtemp(prefix=prefix, dir=MEMORY_ROOT)), True
    return workdir / "storage", False


def _remove_orphaned_memory_storage() -> None:
    """Delete in-memory storage left by Python processes that were killed."""
    for path in MEMORY_ROOT.glob(f"{MEMORY_PREFIX}*-*"):
        owner = path.name.removeprefix(MEMORY_PREFIX).split("-", 1)[0]
        if owner.isdigit() and not _process_exists(int(owner)):
            shutil.rmtree(path, ignore_errors=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0 only checks; nothing is sent
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_on_free_port(
    workdir: Path,
    config: dict[str, Any],
    auth: AuthMode,
    tls: bool,
    users: dict[str, str],
    token_server: TokenServer | None,
) -> LocalRegistry:
    # The free port is found by binding port 0 and releasing it, so another
    # process can take it in between; a few attempts make that harmless.
    ca_file = _add_tls(config, workdir) if tls else None
    _add_auth(config, workdir, auth, users, token_server)
    for attempt in range(3):
        port = _free_port()
        registry = _write_registry(workdir, config, port, auth, users, ca_file)
        registry.token_server = token_server
        try:
            registry.start()
        except RegistryStartError:
            if attempt == 2 or "address already in use" not in registry.log_tail():
                raise
        else:
            return registry
    raise AssertionError("unreachable")


def _write_registry(
    workdir: Path,
    config: dict[str, Any],
    port: int,
    auth: AuthMode,
    users: dict[str, str],
    ca_file: Path | None,
) -> LocalRegistry:
    config["http"]["addr"] = f"127.0.0.1:{port}"
    config_path = workdir / "config.yml"
    # JSON is a subset of YAML, so the registry reads it as is.
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    scheme = "https" if ca_file is not None else "http"
    return LocalRegistry(
        url=f"{scheme}://127.0.0.1:{port}",
        port=port,
        workdir=workdir,
        storage_dir=Path(config["storage"]["filesystem"]["rootdirectory"]),
        config_path=config_path,
        log_path=workdir / "registry.log",
        auth=auth,
        users=users,
        ca_file=ca_file,
    )


def _base_config(storage_dir: Path, delete_enabled: bool) -> dict[str, Any]:
    storage_dir.mkdir(parents=True, exist_ok=True)
    return {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage_dir)},
            "delete": {"enabled": delete_enabled},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        # A fixed secret keeps upload sessions valid across restart().
        "http": {"secret": secrets.token_hex(16)},
    }


def _add_tls(config: dict[str, Any], workdir: Path) -> Path:
    files = write_tls_files(workdir / "tls")
    config["http"]["tls"] = {
        "certificate": str(files.cert_file),
        "key": str(files.key_file),
    }
    return files.ca_file


def _add_auth(
    config: dict[str, Any],
    workdir: Path,
    auth: AuthMode,
    users: dict[str, str],
    token_server: TokenServer | None,
) -> None:
    if auth == "basic":
        path = _write_htpasswd(workdir / "htpasswd", users)
        config["auth"] = {"htpasswd": {"realm": "regsweep-test", "path": str(path)}}
    elif auth == "token" and token_server is not None:
        config["auth"] = {
            "token": {
                "realm": token_server.realm,
                "service": token_server.service,
                "issuer": token_server.issuer,
                "rootcertbundle": str(token_server.rootcertbundle),
            }
        }


def _write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    """bcrypt entries, the only kind the registry accepts, made by ``htpasswd``."""
    if shutil.which("htpasswd") is None:
        raise RegistryStartError("htpasswd (apache2-utils) is not on PATH")
    lines = []
    for user, password in users.items():
        # -i reads the password from stdin, keeping it out of the process list.
        result = subprocess.run(
            ["htpasswd", "-Bin", user],
            input=password,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        lines.append(result.stdout.strip())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(session: requests.Session, url: str, verify: str | bool) -> bool:
    """Whether a registry (any answer, even 401) serves ``url`` yet."""
    try:
        response = session.get(url, timeout=1, verify=verify)
    except requests.RequestException:
        return False
    # Another program may hold the port for a moment; only a registry says this.
    return "Docker-Distribution-Api-Version" in response.headers


def _die_with_parent() -> list[str]:
    """A prefix that makes the registry exit when the Python process is killed.

    ``setpriv`` (util-linux) sets the parent-death signal and then execs the
    registry, so the PID stays the one ``Popen`` reports. Linux delivers that
    signal when the *thread* that started the registry ends: start registries
    from a thread that lives as long as they should (the main thread, in tests).
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM"] if setpriv else []


def _end_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


@atexit.register
def _stop_leftovers() -> None:
    """Stop registries a caller forgot, so none outlive the Python process."""
    for registry in list(_running):
        registry.close()

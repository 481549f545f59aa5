"""What every command shares: the context it runs in, usage errors, output."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any, TextIO

from core.client import RegistryClient, RegistryConfig
from core.delete import DeleteResult

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PASSWORD_ENV = "REGSWEEP_PASSWORD"


class UsageError(Exception):
    """Bad input found before any request; exit code 2."""


@dataclass
class Context:
    """What a command gets: its arguments, standard input and, for commands
    that talk to a registry, the client."""

    args: argparse.Namespace
    stdin: TextIO
    client: RegistryClient | None = None

    @property
    def registry(self) -> RegistryClient:
        assert self.client is not None
        return self.client


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def format_size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


def make_client(args: argparse.Namespace, stdin: TextIO) -> RegistryClient:
    """A client from the registry options (``restore`` may supply the URL)."""
    password = os.environ.get(PASSWORD_ENV)
    if args.password_stdin:
        password = stdin.readline().rstrip("\r\n")
    if password and not args.username:
        raise UsageError("a password was given without --username")
    return RegistryClient(
        RegistryConfig(
            url=args.registry,
            username=args.username,
            password=password,
            ca_file=args.ca_file,
            insecure=args.insecure,
            timeout=args.timeout,
            workers=args.workers,
        )
    )


@contextlib.contextmanager
def cancel_on_interrupt(cancel: threading.Event) -> Iterator[None]:
    """Ctrl-C sets ``cancel`` first, so images not yet started are left alone
    while the worker pool winds down, then interrupts as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupted(signum: int, frame: FrameType | None) -> None:
        cancel.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def result_printer(out: TextIO) -> Callable[[DeleteResult], None]:
    """Prints each deletion result as it arrives (from worker threads)."""
    lock = threading.Lock()

    def show(result: DeleteResult) -> None:
        with lock:
            line = f"{result.outcome:<9} {result.item.reference}: {result.message}"
            print(line, file=out)

    return show

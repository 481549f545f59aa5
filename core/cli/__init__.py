"""The command line: the same core as the window, for scripts and cron jobs.

Exit codes: 0 everything done, 1 something failed (each failure is reported),
2 bad usage or input (nothing was sent to the registry).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from core import errors, logs
from core.cli import changes, prune, read
from core.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    PASSWORD_ENV,
    Context,
    UsageError,
    make_client,
)
from core.client import RegistryClient
from core.reference import check_name, parse_ref

log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(message)


# name: (help, talks to a registry, adds its own arguments, runs it)
Command = tuple[
    str, bool, Callable[[argparse.ArgumentParser], None], Callable[[Context], int]
]
COMMANDS: dict[str, Command] = {
    "check": (
        "test the connection: login, catalog, deletion",
        True,
        lambda _: None,
        read.cmd_check,
    ),
    "repos": ("list repositories", True, lambda _: None, read.cmd_repos),
    "tags": (
        "list the tags of a repository",
        True,
        read.add_tags_arguments,
        read.cmd_tags,
    ),
    "delete": (
        "delete images, after showing what goes with them",
        True,
        changes.add_delete_arguments,
        changes.cmd_delete,
    ),
    "history": (
        "list past deletions from the journal",
        False,
        changes.add_history_arguments,
        changes.cmd_history,
    ),
    "restore": (
        "put a deleted image back from the journal",
        True,
        changes.add_restore_arguments,
        changes.cmd_restore,
    ),
    "prune": (
        "delete by rules: keep the newest, drop the old, protect some",
        True,
        prune.add_prune_arguments,
        prune.cmd_prune,
    ),
}
# Commands whose --registry may be left out (restore takes the journal's).
_REGISTRY_OPTIONAL = {"restore"}


def _registry_options(parser: argparse.ArgumentParser, required: bool = True) -> None:
    group = parser.add_argument_group("registry")
    group.add_argument("--registry", required=required, metavar="URL")
    group.add_argument("--username", default=os.environ.get("REGSWEEP_USERNAME"))
    group.add_argument(
        "--password-stdin",
        action="store_true",
        help=f"read the password from standard input (or set {PASSWORD_ENV})",
    )
    group.add_argument("--ca-file", help="CA certificate(s) to trust, PEM")
    group.add_argument(
        "--insecure", action="store_true", help="do not verify TLS certificates"
    )
    group.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")
    group.add_argument("--workers", type=_positive, default=16, metavar="N")


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--debug", action="store_true", help="log every request")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="regsweep", description="Clean up container registries.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (help_text, remote, add_arguments, _) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        if remote:
            _registry_options(command, required=name not in _REGISTRY_OPTIONAL)
        _output_options(command)
        add_arguments(command)
    return parser


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None) -> int:
    context = Context(argparse.Namespace(), stdin or sys.stdin)
    try:
        context.args = build_parser().parse_args(argv)
        logs.configure(context.args.debug)
        _check_arguments(context.args)
        context.client = _client(context)
    except (UsageError, errors.InvalidReferenceError, errors.ConfigError) as exc:
        print(f"regsweep: {exc}", file=sys.stderr)
        return EXIT_USAGE
    log.info("command %s", context.args.command)
    return _run(context)


def _run(context: Context) -> int:
    try:
        return int(COMMANDS[context.args.command][3](context))
    except (UsageError, errors.InvalidReferenceError) as exc:
        print(f"regsweep: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except errors.RegsweepError as exc:
        print(f"regsweep: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("regsweep: interrupted", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if context.client is not None:
            context.client.close()


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _check_arguments(args: argparse.Namespace) -> None:
    """Reject bad names before anything is sent."""
    if args.command == "tags":
        check_name(args.repository)
    for text in getattr(args, "references", []):
        parse_ref(text)


def _client(context: Context) -> RegistryClient | None:
    args = context.args
    if not getattr(args, "registry", None):
        return None
    return make_client(args, context.stdin)

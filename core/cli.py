"""The command line: the same core as the window, for scripts and cron jobs.

Exit codes: 0 everything done, 1 something failed (each failure is reported),
2 bad usage or input (nothing was sent to the registry).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TextIO

from core import errors, logs
from core.client import RegistryClient, RegistryConfig
from core.delete import DeleteResult, Outcome, run_plan
from core.images import ImageDetails, ManifestHead
from core.plan import DeletionPlan, PlanItem, build_plan
from core.probe import check_connection
from core.reference import ImageRef, check_name, parse_ref

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PASSWORD_ENV = "REGSWEEP_PASSWORD"
GC_NOTE = (
    "Deleting frees no disk space by itself: the registry's garbage collection "
    "does, run while the registry is stopped or read-only:\n"
    "  registry garbage-collect /etc/docker/registry/config.yml\n"
    "On registry 2.x do not add --delete-untagged: it also deletes the "
    "platform images of multi-platform images that are still tagged."
)


class UsageError(Exception):
    """Bad input found before any request; exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    group = common.add_argument_group("registry")
    group.add_argument("--registry", required=True, metavar="URL", help="registry URL")
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
    group.add_argument("--json", action="store_true", help="machine-readable output")
    group.add_argument("--debug", action="store_true", help="log every request")

    parser = _Parser(prog="regsweep", description="Clean up container registries.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("check", parents=[common], help="test the connection")
    sub.add_parser("repos", parents=[common], help="list repositories")
    tags = sub.add_parser(
        "tags", parents=[common], help="list the tags of a repository"
    )
    tags.add_argument("repository")
    tags.add_argument("--details", action="store_true", help="size, created, platforms")
    delete = sub.add_parser("delete", parents=[common], help="delete images")
    delete.add_argument("references", nargs="+", metavar="REPO:TAG|REPO@DIGEST")
    delete.add_argument(
        "--yes", action="store_true", help="do not ask for confirmation"
    )
    return parser


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    try:
        args = build_parser().parse_args(argv)
        logs.configure(args.debug)
        refs = _parse_refs(args)
        client = RegistryClient(_config(args, stdin))
    except (UsageError, errors.InvalidReferenceError, errors.ConfigError) as exc:
        print(f"regsweep: {exc}", file=sys.stderr)
        return EXIT_USAGE
    log.info("command %s on %s", args.command, client.base_url)
    try:
        with client:
            return int(COMMANDS[args.command](client, args, refs, stdin))
    except UsageError as exc:
        print(f"regsweep: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except errors.RegsweepError as exc:
        print(f"regsweep: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("regsweep: interrupted", file=sys.stderr)
        return EXIT_FAILED


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _parse_refs(args: argparse.Namespace) -> list[ImageRef]:
    if args.command == "tags":
        check_name(args.repository)
    if args.command != "delete":
        return []
    return [parse_ref(text) for text in args.references]


def _config(args: argparse.Namespace, stdin: TextIO) -> RegistryConfig:
    password = os.environ.get(PASSWORD_ENV)
    if args.password_stdin:
        password = stdin.readline().rstrip("\r\n")
    if password and not args.username:
        raise UsageError("a password was given without --username")
    return RegistryConfig(
        url=args.registry,
        username=args.username,
        password=password,
        ca_file=args.ca_file,
        insecure=args.insecure,
        timeout=args.timeout,
        workers=args.workers,
    )


# --- commands -------------------------------------------------------------------


def cmd_check(client: RegistryClient, args: argparse.Namespace, *_: Any) -> int:
    report = check_connection(client)
    if args.json:
        _print_json(report.__dict__)
        return EXIT_OK
    print(f"Registry:  {report.url} (API {report.api_version or 'unknown'})")
    print(f"Login:     {report.auth_scheme}")
    print(f"Catalog:   {report.catalog_message}")
    print(f"Deletion:  {report.deletion_message}")
    return EXIT_OK


def cmd_repos(client: RegistryClient, args: argparse.Namespace, *_: Any) -> int:
    names = client.catalog()
    if args.json:
        _print_json(names)
    else:
        print("\n".join(names))
    return EXIT_OK


def cmd_tags(client: RegistryClient, args: argparse.Namespace, *_: Any) -> int:
    repository = args.repository
    tags = client.tags(repository)
    heads: dict[str, ManifestHead | errors.RegsweepError] = dict(
        client.resolve_many(repository, tags)
    )
    details = _details(client, repository, heads, args.workers) if args.details else {}
    rows = [_tag_row(tag, heads[tag], details) for tag in tags]
    if args.json:
        _print_json(rows)
    else:
        _print_tag_table(rows, args.details)
    return EXIT_FAILED if any("error" in row for row in rows) else EXIT_OK


def cmd_delete(
    client: RegistryClient,
    args: argparse.Namespace,
    refs: list[ImageRef],
    stdin: TextIO,
) -> int:
    if not args.yes and (args.password_stdin or not stdin.isatty()):
        raise UsageError(
            "refusing to delete without confirmation: standard input is not a "
            "terminal; add --yes to confirm on the command line"
        )
    cancel = threading.Event()
    plan = build_plan(client, refs, cancel=cancel)
    out = sys.stderr if args.json else sys.stdout
    _print_preview(plan, out)
    if plan.items and not args.yes and not _confirm(plan, stdin, out):
        print("Nothing deleted.", file=out)
        return EXIT_FAILED
    results = run_plan(
        client,
        plan.items,
        workers=min(args.workers, 8),
        cancel=cancel,
        on_result=None if args.json else _printer(out),
    )
    _report(refs, plan, results, args.json, out)
    ok = not plan.problems and all(r.outcome is Outcome.DELETED for r in results)
    return EXIT_OK if ok else EXIT_FAILED


COMMANDS: dict[str, Callable[..., int]] = {
    "check": cmd_check,
    "repos": cmd_repos,
    "tags": cmd_tags,
    "delete": cmd_delete,
}


# --- tags output ----------------------------------------------------------------


def _details(
    client: RegistryClient,
    repository: str,
    heads: dict[str, ManifestHead | errors.RegsweepError],
    workers: int,
) -> dict[str, ImageDetails | errors.RegsweepError]:
    digests = {h.digest for h in heads.values() if isinstance(h, ManifestHead)}

    def one(digest: str) -> ImageDetails | errors.RegsweepError:
        try:
            return client.details(repository, digest)
        except errors.RegsweepError as exc:
            return exc

    with ThreadPoolExecutor(workers) as pool:
        return dict(zip(digests, pool.map(one, digests), strict=True))


def _tag_row(
    tag: str,
    head: ManifestHead | errors.RegsweepError,
    details: dict[str, ImageDetails | errors.RegsweepError],
) -> dict[str, Any]:
    if isinstance(head, errors.RegsweepError):
        return {"tag": tag, "digest": None, "error": str(head)}
    row: dict[str, Any] = {
        "tag": tag,
        "digest": head.digest,
        "media_type": head.media_type,
        "kind": head.kind,
    }
    found = details.get(head.digest)
    if isinstance(found, ImageDetails):
        row["size"] = found.size
        row["created"] = found.created.isoformat() if found.created else None
        row["platforms"] = list(found.platforms)
    elif isinstance(found, errors.RegsweepError):
        row["error"] = str(found)
    return row


def _print_tag_table(rows: list[dict[str, Any]], with_details: bool) -> None:
    width = max([len(row["tag"]) for row in rows] + [3])
    for row in rows:
        line = f"{row['tag']:<{width}}  {row['digest'] or 'error'}"
        if with_details and "kind" in row:
            line += f"  {row['kind']:<5}  {_size(row.get('size')):>9}"
            line += (
                f"  {_date(row.get('created'))}  {','.join(row.get('platforms', []))}"
            )
        if "error" in row:
            line += f"  {row['error']}"
        print(line)


def _size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


def _date(text: str | None) -> str:
    if not text:
        return "-"
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M")


# --- delete output --------------------------------------------------------------


def _print_preview(plan: DeletionPlan, out: TextIO) -> None:
    for problem in plan.problems:
        print(f"cannot delete {problem.reference}: {problem.error}", file=out)
    if not plan.items:
        return
    print(f"Will delete {len(plan.items)} image(s), {plan.tag_count} tag(s):", file=out)
    for item in plan.items:
        kind = "multi-platform" if item.kind == "index" else "image"
        print(f"  {item.reference}  [{kind}]", file=out)
        print(f"      tags: {', '.join(item.tags) or '(none)'}", file=out)
        if item.also_removed:
            print(f"      also removed: {', '.join(item.also_removed)}", file=out)
        if item.platforms:
            print(f"      platforms: {', '.join(item.platforms)}", file=out)
            print(
                "      its platform images stay, untagged, until garbage collection",
                file=out,
            )


def _confirm(plan: DeletionPlan, stdin: TextIO, out: TextIO) -> bool:
    print(
        f"Delete these {len(plan.items)} image(s)? Type 'yes' to confirm: ",
        end="",
        file=out,
    )
    out.flush()
    return stdin.readline().strip().lower() == "yes"


def _printer(out: TextIO) -> Callable[[DeleteResult], None]:
    lock = threading.Lock()

    def show(result: DeleteResult) -> None:
        with lock:
            print(
                f"{result.outcome:<9} {result.item.reference}: {result.message}",
                file=out,
            )

    return show


def _report(
    refs: list[ImageRef],
    plan: DeletionPlan,
    results: list[DeleteResult],
    as_json: bool,
    out: TextIO,
) -> None:
    if as_json:
        _print_json(_json_outcomes(refs, plan, results))
    counts = {o: sum(r.outcome is o for r in results) for o in Outcome}
    failed = counts[Outcome.FAILED] + len(plan.problems)
    print(
        f"{counts[Outcome.DELETED]} deleted, {failed} failed, "
        f"{counts[Outcome.SKIPPED]} skipped, {counts[Outcome.CANCELLED]} cancelled.",
        file=out,
    )
    if counts[Outcome.DELETED]:
        print(GC_NOTE, file=out)


def _json_outcomes(
    refs: list[ImageRef], plan: DeletionPlan, results: list[DeleteResult]
) -> list[dict[str, Any]]:
    """One object per reference the user named, in their order."""
    problems = {p.reference: p for p in plan.problems}
    found: dict[tuple[str, str], DeleteResult] = {}
    for result in results:
        for name in result.item.requested:
            found[(result.item.repository, name)] = result
    rows = []
    for ref in refs:
        text = str(ref)
        if text in problems:
            rows.append(
                {
                    "reference": text,
                    "outcome": "failed",
                    "message": str(problems[text].error),
                }
            )
            continue
        result = found[(ref.repository, ref.reference)]
        rows.append(_json_result(text, result.item, result))
    return rows


def _json_result(text: str, item: PlanItem, result: DeleteResult) -> dict[str, Any]:
    return {
        "reference": text,
        "repository": item.repository,
        "digest": item.digest,
        "media_type": item.media_type,
        "tags": list(item.tags),
        "also_removed": list(item.also_removed),
        "outcome": str(result.outcome),
        "message": result.message,
    }


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")

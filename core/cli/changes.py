"""Commands that change a registry or read the journal: delete, history, restore."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any, TextIO

from core import errors
from core.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Context,
    UsageError,
    cancel_on_interrupt,
    make_client,
    print_json,
    result_printer,
)
from core.delete import GC_NOTE, DeleteResult, Outcome, run_plan
from core.journal import Journal, export_csv, export_json, filter_entries
from core.plan import DeletionPlan, PlanItem, build_plan
from core.reference import ImageRef, parse_ref
from core.restore import restore_entry


def add_delete_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("references", nargs="+", metavar="REPO:TAG|REPO@DIGEST")
    parser.add_argument(
        "--yes", action="store_true", help="do not ask for confirmation"
    )
    parser.add_argument(
        "--untag-only",
        action="store_true",
        help="where other tags share the digest, remove only the named tags",
    )


def add_history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", help="only this repository")
    parser.add_argument("--outcome", help="only this outcome, e.g. deleted or failed")
    parser.add_argument("--search", default="", help="text anywhere in the entry")
    parser.add_argument("--csv", action="store_true", help="CSV output")


def add_restore_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("entry_id", metavar="ID", help="journal entry (see history)")


# --- delete ---------------------------------------------------------------------


def cmd_delete(context: Context) -> int:
    args, client = context.args, context.registry
    if not args.yes and (args.password_stdin or not context.stdin.isatty()):
        raise UsageError(
            "refusing to delete without confirmation: standard input is not a "
            "terminal; add --yes to confirm on the command line"
        )
    refs = [parse_ref(text) for text in args.references]
    journal = Journal()
    cancel = threading.Event()
    plan = build_plan(client, refs, cancel=cancel)
    if args.untag_only:
        plan.untag_shared()
    already = _already_deleted(plan, journal, client.base_url)
    out = sys.stderr if args.json else sys.stdout
    _print_preview(plan, already, out)
    if plan.items and not args.yes and not _confirm(plan, context.stdin, out):
        print("Nothing deleted.", file=out)
        return EXIT_FAILED
    with cancel_on_interrupt(cancel):
        results = run_plan(
            client,
            plan.items,
            workers=min(args.workers, 8),
            cancel=cancel,
            journal=journal,
            profile="cli",
            # With --yes the plan's tag map is seconds old and is the re-check.
            recheck_all_tags=not args.yes,
            on_result=None if args.json else result_printer(out),
        )
    _report(refs, plan, already, results, args.json, out)
    failed = [p for p in plan.problems if p.reference not in already]
    ok = not failed and all(r.done for r in results)
    return EXIT_OK if ok else EXIT_FAILED


def _already_deleted(
    plan: DeletionPlan, journal: Journal, registry: str
) -> dict[str, str]:
    """References that were not found because an earlier run deleted them:
    rerunning an interrupted clean-up finishes it instead of failing."""
    found = {}
    for problem in plan.problems:
        if not isinstance(problem.error, errors.ManifestNotFoundError):
            continue
        ref = parse_ref(problem.reference)
        entry = journal.find_deleted(registry, ref.repository, ref.reference)
        if entry is not None:
            found[problem.reference] = (
                f"Already deleted at {entry.time} (journal entry {entry.id})."
            )
    return found


def _print_preview(plan: DeletionPlan, already: dict[str, str], out: TextIO) -> None:
    for problem in plan.problems:
        if problem.reference in already:
            print(f"{problem.reference}: {already[problem.reference]}", file=out)
        else:
            print(f"cannot delete {problem.reference}: {problem.error}", file=out)
    if not plan.items:
        return
    print(f"Will change {len(plan.items)} image(s):", file=out)
    for item in plan.items:
        _print_item(item, out)


def _print_item(item: PlanItem, out: TextIO) -> None:
    kind = "multi-platform" if item.kind == "index" else "image"
    verb = "untag" if item.untag_only else "delete"
    print(f"  {verb} {item.reference}  [{kind}]", file=out)
    if item.untag_only:
        kept = [t for t in item.tags if t not in item.requested_tags]
        print(f"      remove only: {', '.join(item.requested_tags)}", file=out)
        print(f"      kept: {', '.join(kept)}", file=out)
    else:
        print(f"      tags: {', '.join(item.tags) or '(none)'}", file=out)
    if item.also_removed:
        print(f"      also removed: {', '.join(item.also_removed)}", file=out)
    if item.platforms:
        print(f"      platforms: {', '.join(item.platforms)}", file=out)
        if not item.untag_only:
            print("      its platform images stay in the registry, untagged", file=out)
    for warning in item.warnings:
        print(f"      WARNING: {warning}", file=out)


def _confirm(plan: DeletionPlan, stdin: TextIO, out: TextIO) -> bool:
    count = len(plan.items)
    print(
        f"Go ahead with these {count} image(s)? Type 'yes' to confirm: ",
        end="",
        file=out,
    )
    out.flush()
    return stdin.readline().strip().lower() == "yes"


def _report(
    refs: list[ImageRef],
    plan: DeletionPlan,
    already: dict[str, str],
    results: list[DeleteResult],
    as_json: bool,
    out: TextIO,
) -> None:
    if as_json:
        print_json(_json_outcomes(refs, plan, already, results))
    counts = {o: sum(r.outcome is o for r in results) for o in Outcome}
    failed = counts[Outcome.FAILED] + len(plan.problems) - len(already)
    text = f"{counts[Outcome.DELETED]} deleted, "
    if counts[Outcome.UNTAGGED]:
        text += f"{counts[Outcome.UNTAGGED]} untagged, "
    text += (
        f"{failed} failed, {counts[Outcome.SKIPPED]} skipped, "
        f"{counts[Outcome.CANCELLED]} cancelled."
    )
    print(text, file=out)
    if counts[Outcome.DELETED] or counts[Outcome.UNTAGGED]:
        print(GC_NOTE, file=out)


def _json_outcomes(
    refs: list[ImageRef],
    plan: DeletionPlan,
    already: dict[str, str],
    results: list[DeleteResult],
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
        if text in already:
            rows.append(
                {
                    "reference": text,
                    "outcome": "already-deleted",
                    "message": already[text],
                }
            )
        elif text in problems:
            rows.append(
                {
                    "reference": text,
                    "outcome": "failed",
                    "message": str(problems[text].error),
                }
            )
        else:
            rows.append(_json_result(text, found[(ref.repository, ref.reference)]))
    return rows


def _json_result(text: str, result: DeleteResult) -> dict[str, Any]:
    item = result.item
    return {
        "reference": text,
        "repository": item.repository,
        "digest": item.digest,
        "media_type": item.media_type,
        "tags": list(item.tags),
        "also_removed": list(item.also_removed),
        "platforms": list(item.platforms),
        "outcome": str(result.outcome),
        "message": result.message,
        "journal_id": result.journal_id,
    }


# --- history and restore --------------------------------------------------------


def cmd_history(context: Context) -> int:
    args = context.args
    entries = filter_entries(
        Journal().entries(),
        text=args.search,
        repository=args.repo,
        outcome=args.outcome,
    )
    if args.json:
        sys.stdout.write(export_json(entries) + "\n")
    elif args.csv:
        sys.stdout.write(export_csv(entries))
    elif not entries:
        print("No deletions recorded.")
    for entry in entries if not (args.json or args.csv) else []:
        row = entry.summary_row()
        print(
            f"{row['id']}  {row['time'][:19]}  {row['outcome']:<11} "
            f"{row['repository']}@{row['digest'][:19]}...  tags: {row['tags'] or '-'}"
            + (f"  restored: {row['restored']}" if row["restored"] else "")
        )
    return EXIT_OK


def cmd_restore(context: Context) -> int:
    args = context.args
    journal = Journal()
    entry = journal.get(args.entry_id)
    if entry is None:
        raise UsageError(f"no journal entry {args.entry_id!r} (see: regsweep history)")
    if entry.outcome not in ("deleted", "untagged", "interrupted", "failed"):
        raise UsageError(f"entry {entry.id} has nothing to restore ({entry.outcome})")
    client = context.client
    if client is None:
        args.registry = entry.registry
        client = context.client = make_client(args, context.stdin)
    if client.base_url != entry.registry:
        raise UsageError(
            f"entry {entry.id} is from {entry.registry}, not {client.base_url}"
        )
    result = restore_entry(client, entry, journal)
    if args.json:
        print_json(result.__dict__)
    else:
        print(result.message)
    return EXIT_OK if result.ok else EXIT_FAILED

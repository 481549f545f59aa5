"""The prune command: clean-up rules, a verdict and reason for every tag, then
the same deletion as ``delete`` (re-checks, journal, per-item results)."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from core.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Context,
    UsageError,
    cancel_on_interrupt,
    format_size,
    print_json,
    result_printer,
)
from core.delete import GC_NOTE, DeleteResult, Outcome
from core.images import INDEX_TYPES
from core.journal import Journal
from core.prune import CollectProgress, apply_plan, collect
from core.reference import check_name
from core.rules import InvalidRulesError, Rules, load_rules
from core.verdicts import Inventory, RulesPlan, TagVerdict, evaluate

log = logging.getLogger(__name__)

# Options that make up rules on the command line; --rules replaces them all.
_RULE_OPTIONS = (
    "repos",
    "exclude_repos",
    "keep",
    "older_than",
    "tags",
    "exclude_tags",
    "protect",
    "undated",
    "shared",
)
_INDEX_NOTE = (
    "The platform images of deleted multi-platform images stay, untagged; their "
    "bytes are freed only by a garbage collection that removes untagged "
    "manifests (--delete-untagged), which on registry 2.x also breaks "
    "multi-platform images that are still tagged."
)


def add_prune_arguments(parser: argparse.ArgumentParser) -> None:
    rules = parser.add_argument_group("rules (or --rules FILE)")
    rules.add_argument("--rules", type=Path, metavar="FILE", help="a rules file")
    rules.add_argument(
        "--repos", action="append", metavar="REGEX", help="repositories to cover"
    )
    rules.add_argument("--exclude-repos", action="append", metavar="REGEX")
    rules.add_argument(
        "--keep", type=_count, metavar="N", help="keep the N newest images per repo"
    )
    rules.add_argument(
        "--older-than", metavar="AGE", help="delete images older than this: 90d, 12h"
    )
    rules.add_argument("--tags", action="append", metavar="REGEX", help="only these")
    rules.add_argument("--exclude-tags", action="append", metavar="REGEX")
    rules.add_argument(
        "--protect", action="append", metavar="REGEX", help="never delete these tags"
    )
    rules.add_argument(
        "--undated",
        choices=("keep", "by-name"),
        help="images without a usable created date: keep (default) or rank by name",
    )
    rules.add_argument(
        "--shared",
        choices=("keep", "untag"),
        help="a deletable tag sharing its digest with a kept tag: keep (default) "
        "or remove only that tag",
    )
    parser.add_argument(
        "--repository",
        action="append",
        metavar="NAME",
        help="read these repositories instead of the catalog",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show the plan, change nothing"
    )
    parser.add_argument(
        "--yes", action="store_true", help="do not ask for confirmation"
    )


def cmd_prune(context: Context) -> int:
    args, client = context.args, context.registry
    rules = rules_from_arguments(args)
    names = [check_name(name) for name in args.repository or []]
    if (
        not args.dry_run
        and not args.yes
        and (args.password_stdin or not context.stdin.isatty())
    ):
        raise UsageError(
            "refusing to prune without confirmation: standard input is not a "
            "terminal; add --yes to confirm, or --dry-run to see the plan"
        )
    cancel = threading.Event()
    with cancel_on_interrupt(cancel):
        inventory = collect(
            client,
            rules,
            repositories=names,
            cancel=cancel,
            workers=args.workers,
            progress=_progress_printer(sys.stderr),
        )
        plan = _evaluate_now(rules, inventory)
        if args.dry_run:
            return _dry_run(plan, args.json)
        return _real_run(context, plan, cancel)


def rules_from_arguments(args: argparse.Namespace) -> Rules:
    """The rules file, or rules made of the options; exit 2 on bad input."""
    given = [name for name in _RULE_OPTIONS if getattr(args, name) is not None]
    try:
        if args.rules is not None:
            if given:
                options = ", ".join("--" + n.replace("_", "-") for n in given)
                raise UsageError(f"--rules cannot be combined with {options}")
            return load_rules(args.rules)
        if args.keep is None and args.older_than is None:
            raise UsageError("prune needs --keep N, --older-than AGE or --rules FILE")
        return Rules(
            repos_include=tuple(args.repos or ()),
            repos_exclude=tuple(args.exclude_repos or ()),
            keep_newest=args.keep,
            older_than=args.older_than,
            tags_include=tuple(args.tags or ()),
            tags_exclude=tuple(args.exclude_tags or ()),
            protect=tuple(args.protect or ()),
            undated=args.undated or "keep",
            shared=args.shared or "keep",
        )
    except InvalidRulesError as exc:
        raise UsageError(str(exc)) from None


def _evaluate_now(rules: Rules, inventory: Inventory) -> RulesPlan:
    plan = evaluate(rules, inventory, datetime.now(UTC))
    log.info(
        "prune plan: %d tag(s), %d to change, %d item(s), %d problem(s)",
        len(plan.verdicts),
        len(plan.changes),
        len(plan.items),
        len(plan.problems),
    )
    return plan


# --- dry run and real run -----------------------------------------------------------


def _dry_run(plan: RulesPlan, as_json: bool) -> int:
    if as_json:
        print_json([verdict.to_dict() for verdict in plan.verdicts])
        _print_summary(plan, sys.stderr)
    else:
        _print_plan(plan, sys.stdout, every_tag=True)
    return EXIT_FAILED if plan.problems else EXIT_OK


def _real_run(context: Context, plan: RulesPlan, cancel: threading.Event) -> int:
    args = context.args
    out = sys.stderr if args.json else sys.stdout
    _print_plan(plan, out, every_tag=False)
    if not plan.items:
        print("Nothing to delete.", file=out)
        if args.json:
            print_json([])
        return EXIT_FAILED if plan.problems else EXIT_OK
    if not args.yes and not _confirm(plan, context.stdin, out):
        print("Nothing deleted.", file=out)
        return EXIT_FAILED
    results = apply_plan(
        context.registry,
        plan,
        workers=min(args.workers, 8),
        cancel=cancel,
        journal=Journal(),
        profile="cli",
        on_result=None if args.json else result_printer(out),
    )
    _report(results, out)
    if args.json:
        print_json([_result_row(result) for result in results])
    ok = not plan.problems and all(result.done for result in results)
    return EXIT_OK if ok else EXIT_FAILED


# --- output -------------------------------------------------------------------------


def _print_plan(plan: RulesPlan, out: TextIO, *, every_tag: bool) -> None:
    print(f"Rules: {plan.rules.describe()}", file=out)
    if plan.rules.protect and plan.rules.keep_newest is not None:
        print("(protected images do not count toward the newest N)", file=out)
    shown = plan.verdicts if every_tag else plan.changes
    widths = (
        max([len(v.tag) for v in shown] + [3]),
        max([len(v.date_source) for v in shown] + [6]),
    )
    for totals in plan.totals:
        line = _repository_line(plan, totals.repository)
        print(f"\n{totals.repository}: {line}", file=out)
        for verdict in shown:
            if verdict.repository == totals.repository:
                print(_verdict_line(verdict, widths), file=out)
    _print_summary(plan, out)


def _repository_line(plan: RulesPlan, repository: str) -> str:
    totals = next(t for t in plan.totals if t.repository == repository)
    freed = format_size(totals.unreferenced_bytes)
    if not totals.sizes_known:
        freed = f"at least {freed}"
    return (
        f"{totals.tags} tags: {totals.deleted} to delete, {totals.untagged} to "
        f"untag, {totals.kept} kept; {totals.images_deleted} image(s) deleted, "
        f"{freed} no longer referenced"
    )


def _verdict_line(verdict: TagVerdict, widths: tuple[int, int]) -> str:
    day = verdict.created.date().isoformat() if verdict.created else "-"
    return (
        f"  {verdict.verdict:<6}  {verdict.tag:<{widths[0]}}  {verdict.digest[:19]}  "
        f"{day:<10}  {verdict.date_source:<{widths[1]}}  {verdict.reason}"
    )


def _print_summary(plan: RulesPlan, out: TextIO) -> None:
    for repository, problem in plan.problems.items():
        print(f"\ncannot judge {repository}: {problem}", file=out)
    changes = plan.changes
    deleted = sum(v.verdict == "delete" for v in changes)
    print(
        f"\nIn all: {len(plan.verdicts)} tags in {len(plan.totals)} repositories; "
        f"{deleted} to delete, {len(changes) - deleted} to untag; "
        f"{format_size(plan.unreferenced_bytes)} no longer referenced by any tag.",
        file=out,
    )
    if any(i.media_type in INDEX_TYPES and not i.untag_only for i in plan.items):
        print(_INDEX_NOTE, file=out)


def _confirm(plan: RulesPlan, stdin: TextIO, out: TextIO) -> bool:
    print(
        f"Go ahead with these {len(plan.items)} image(s)? Type 'yes' to confirm: ",
        end="",
        file=out,
    )
    out.flush()
    return stdin.readline().strip().lower() == "yes"


def _progress_printer(err: TextIO) -> Callable[[CollectProgress], None] | None:
    if not err.isatty():
        return None

    def show(progress: CollectProgress) -> None:
        end = "\n" if progress.done == progress.total else ""
        print(
            f"\rreading {progress.done}/{progress.total} repositories, "
            f"{progress.tags} tags",
            end=end,
            file=err,
            flush=True,
        )

    return show


def _report(results: list[DeleteResult], out: TextIO) -> None:
    counts = {o: sum(r.outcome is o for r in results) for o in Outcome}
    print(
        f"{counts[Outcome.DELETED]} deleted, {counts[Outcome.UNTAGGED]} untagged, "
        f"{counts[Outcome.FAILED]} failed, {counts[Outcome.SKIPPED]} skipped, "
        f"{counts[Outcome.CANCELLED]} cancelled.",
        file=out,
    )
    if counts[Outcome.DELETED] or counts[Outcome.UNTAGGED]:
        print(GC_NOTE, file=out)


def _result_row(result: DeleteResult) -> dict[str, Any]:
    item = result.item
    return {
        "repo": item.repository,
        "digest": item.digest,
        "action": "untag" if item.untag_only else "delete",
        "tags": list(item.requested if item.untag_only else item.tags),
        "media_type": item.media_type,
        "outcome": str(result.outcome),
        "message": result.message,
        "journal_id": result.journal_id,
    }


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value

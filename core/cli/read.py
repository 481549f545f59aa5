"""Commands that only read: check, repos, tags."""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from core import errors
from core.cli.common import EXIT_FAILED, EXIT_OK, Context, format_size, print_json
from core.client import RegistryClient
from core.images import ImageDetails, ManifestHead
from core.probe import check_connection


def add_tags_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("repository")
    parser.add_argument(
        "--details", action="store_true", help="size, created, platforms"
    )


def cmd_check(context: Context) -> int:
    args = context.args
    report = check_connection(context.registry)
    if args.json:
        print_json(report.__dict__)
        return EXIT_OK
    print(f"Registry:  {report.url} (API {report.api_version or 'unknown'})")
    print(f"Login:     {report.auth_scheme}")
    print(f"Catalog:   {report.catalog_message}")
    print(f"Deletion:  {report.deletion_message}")
    return EXIT_OK


def cmd_repos(context: Context) -> int:
    names = context.registry.catalog()
    if context.args.json:
        print_json(names)
    else:
        print("\n".join(names))
    return EXIT_OK


def cmd_tags(context: Context) -> int:
    client, args = context.registry, context.args
    repository = args.repository
    tags = client.tags(repository)
    heads: dict[str, ManifestHead | errors.RegsweepError] = dict(
        client.resolve_many(repository, tags)
    )
    details = _details(client, repository, heads, args.workers) if args.details else {}
    rows = [_tag_row(tag, heads[tag], details) for tag in tags]
    if args.json:
        print_json(rows)
    else:
        _print_tag_table(rows, args.details)
    return EXIT_FAILED if any("error" in row for row in rows) else EXIT_OK


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
            line += f"  {row['kind']:<5}  {format_size(row.get('size')):>9}"
            line += (
                f"  {_date(row.get('created'))}  {','.join(row.get('platforms', []))}"
            )
        if "error" in row:
            line += f"  {row['error']}"
        print(line)


def _date(text: str | None) -> str:
    if not text:
        return "-"
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M")

"""How sizes, dates and digests read in the window. Plain functions, no Qt."""

from __future__ import annotations

from datetime import datetime

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def exact_size(size: int | None) -> str:
    return "" if size is None else f"{size:,} bytes"


def short_digest(digest: str) -> str:
    """``sha256:`` plus the first 12 hex digits, as ``docker images`` shows."""
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}:{hexpart[:12]}" if hexpart else digest


def local_time(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def tag_list(tags: list[str], limit: int = 4) -> str:
    """``a, b, c`` or ``a, b, c, d +3 more``."""
    if len(tags) <= limit:
        return ", ".join(tags)
    return ", ".join(tags[:limit]) + f" +{len(tags) - limit} more"


def count(number: int, noun: str, plural: str | None = None) -> str:
    word = noun if number == 1 else (plural or noun + "s")
    return f"{number:,} {word}"

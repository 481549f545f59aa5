"""Clean-up rules: what a user wants kept, and what may go.

A :class:`Rules` value is checked when it is made: every pattern compiles, the
age limit parses, the choices are known ones. So a rules object that exists can
be evaluated (:mod:`core.verdicts`) without further checks, and a rules file
that loads is one the GUI and the CLI read the same way.

Patterns are regular expressions searched anywhere in a name (``latest`` also
matches ``latest-dev``); anchor them with ``^`` and ``$`` to match whole names.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, get_args

from core.errors import RegsweepError

SCHEMA = 1

Undated = Literal["keep", "by-name"]
Shared = Literal["keep", "untag"]

_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"(?:\d+[smhdw])+")
_PART_RE = re.compile(r"(\d+)([smhdw])")
_PATTERN_FIELDS = {
    "repos_include": "repository include",
    "repos_exclude": "repository exclude",
    "tags_include": "tag include",
    "tags_exclude": "tag exclude",
    "protect": "protect",
}


class InvalidRulesError(RegsweepError):
    """Rules that cannot work: a bad pattern, duration or choice."""


@dataclass(frozen=True)
class Rules:
    """What to keep and what may be deleted, per repository.

    ``keep_newest``: keep the N newest images (digests, not tag names) of each
    repository; protected images do not count toward the N. ``older_than``:
    delete images older than this (``90d``). With both, an image is kept if
    either rule keeps it; with neither, nothing is deleted. ``undated``: what
    to do with images without a usable created date: ``keep`` them, or rank the
    repository ``by-name`` (version-aware). ``shared``: a deletable tag whose
    digest also carries a kept tag is kept (``keep``) or removed on its own
    (``untag``); it never takes the digest with it.
    """

    repos_include: tuple[str, ...] = ()
    repos_exclude: tuple[str, ...] = ()
    keep_newest: int | None = None
    older_than: str | None = None
    tags_include: tuple[str, ...] = ()
    tags_exclude: tuple[str, ...] = ()
    protect: tuple[str, ...] = ()
    undated: Undated = "keep"
    shared: Shared = "keep"

    def __post_init__(self) -> None:
        for name, label in _PATTERN_FIELDS.items():
            for pattern in getattr(self, name):
                compile_pattern(pattern, label)
        if self.keep_newest is not None and (
            isinstance(self.keep_newest, bool)
            or not isinstance(self.keep_newest, int)
            or self.keep_newest < 0
        ):
            raise InvalidRulesError(
                f"Keep newest must be a whole number of 0 or more, not "
                f"{self.keep_newest!r}."
            )
        if self.older_than is not None:
            parse_duration(self.older_than)
        _check_choice("undated", self.undated, Undated)
        _check_choice("shared", self.shared, Shared)

    @property
    def selects_anything(self) -> bool:
        """Whether any rule can mark an image for deletion."""
        return self.keep_newest is not None or self.older_than is not None

    @property
    def max_age(self) -> timedelta | None:
        return None if self.older_than is None else parse_duration(self.older_than)

    def matches_repository(self, name: str) -> bool:
        included = not self.repos_include or _any_search(self.repos_include, name)
        return included and not _any_search(self.repos_exclude, name)

    def protected_by(self, tag: str) -> str | None:
        """The first protect pattern that matches ``tag``."""
        return _first_search(self.protect, tag)

    def excluded_by(self, tag: str) -> str | None:
        """Why the tag patterns leave ``tag`` alone, in words, or None."""
        if self.tags_include and not _any_search(self.tags_include, tag):
            return "matches no tag include pattern"
        pattern = _first_search(self.tags_exclude, tag)
        return None if pattern is None else f"excluded by tag pattern {pattern}"

    def describe(self) -> str:
        """The rules in one line of words."""
        parts = []
        if self.keep_newest is not None:
            parts.append(f"keep the {self.keep_newest} newest")
        if self.older_than is not None:
            parts.append(f"delete older than {describe_duration(self.older_than)}")
        if not parts:
            parts.append("no keep or age rule: nothing is deleted")
        if self.protect:
            parts.append("protect " + ", ".join(self.protect))
        if self.tags_include:
            parts.append("only tags matching " + ", ".join(self.tags_include))
        if self.tags_exclude:
            parts.append("never tags matching " + ", ".join(self.tags_exclude))
        parts.append(
            "undated images: kept"
            if self.undated == "keep"
            else "undated images: ranked by tag name"
        )
        parts.append(
            "shared digests: kept" if self.shared == "keep" else "shared tags: untagged"
        )
        return "; ".join(parts)

    # --- the rules file ---------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"schema": SCHEMA}
        for name, value in asdict(self).items():
            body[name] = list(value) if isinstance(value, tuple) else value
        return body

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, body: Any) -> Rules:
        if not isinstance(body, dict):
            raise InvalidRulesError("A rules file must hold one JSON object.")
        schema = body.get("schema")
        if schema != SCHEMA:
            raise InvalidRulesError(
                f"Unknown rules schema {schema!r} (this Regsweep reads schema "
                f"{SCHEMA}).",
                "It may come from a newer Regsweep; save the rules again with "
                "this one.",
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(body) - known - {"schema"})
        if unknown:
            raise InvalidRulesError(f"Unknown rules setting(s): {', '.join(unknown)}.")
        values = {name: _field_value(name, body[name]) for name in known & set(body)}
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> Rules:
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidRulesError(
                f"The rules are not valid JSON (line {exc.lineno}: {exc.msg})."
            ) from None
        return cls.from_dict(body)


def load_rules(path: Path) -> Rules:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise InvalidRulesError(f"Cannot read rules file {path} ({reason}).") from None
    try:
        return Rules.from_json(text)
    except InvalidRulesError as exc:
        raise InvalidRulesError(f"{path}: {exc.message}", exc.hint or None) from None


def save_rules(path: Path, rules: Rules) -> None:
    """Write through a temporary file, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(rules.to_json())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- durations ---------------------------------------------------------------------


def rules_path(config_directory: Path, profile_id: str) -> Path:
    """Where a profile's rules live: beside the profiles file."""
    return config_directory / "rules" / f"{profile_id}.json"


def load_profile_rules(config_directory: Path, profile_id: str) -> Rules | None:
    """The saved rules, or None if there are none. Raises InvalidRulesError."""
    path = rules_path(config_directory, profile_id)
    return load_rules(path) if path.exists() else None


def save_profile_rules(config_directory: Path, profile_id: str, rules: Rules) -> Path:
    path = rules_path(config_directory, profile_id)
    save_rules(path, rules)
    return path


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``1d12h``: numbers with s, m, h, d or w."""
    cleaned = text.strip().lower() if isinstance(text, str) else ""
    if not _DURATION_RE.fullmatch(cleaned):
        raise InvalidRulesError(
            f"{text!r} is not a duration.",
            "Write a number and a unit, e.g. 90d, 12h or 2w "
            "(s, m, h, d, w: seconds to weeks).",
        )
    seconds = sum(int(n) * _SECONDS[unit] for n, unit in _PART_RE.findall(cleaned))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise InvalidRulesError(f"{text!r} is too long a duration.") from None


def describe_duration(text: str) -> str:
    """``90d`` -> ``90 days``, ``1w2d`` -> ``1 week 2 days``."""
    words = []
    for number, unit in _PART_RE.findall(text.strip().lower()):
        name = _UNITS[unit]
        words.append(f"{int(number)} {name}{'' if int(number) == 1 else 's'}")
    return " ".join(words)


# --- patterns ----------------------------------------------------------------------


def compile_pattern(pattern: str, label: str) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise InvalidRulesError(f"An empty {label} pattern matches everything.")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidRulesError(
            f"The {label} pattern {pattern!r} is not a valid regular expression "
            f"({exc.msg} at position {exc.pos}).",
            "Escape special characters with a backslash, e.g. 1\\.0 for 1.0.",
        ) from None


def _first_search(patterns: tuple[str, ...], name: str) -> str | None:
    # re keeps compiled patterns in its own cache.
    return next((p for p in patterns if re.search(p, name)), None)


def _any_search(patterns: tuple[str, ...], name: str) -> bool:
    return _first_search(patterns, name) is not None


def _check_choice(name: str, value: str, allowed: Any) -> None:
    choices = get_args(allowed)
    if value not in choices:
        raise InvalidRulesError(
            f"{name.capitalize()} must be one of {', '.join(choices)}, not {value!r}."
        )


def _field_value(name: str, value: Any) -> Any:
    """A value from a rules file, in the type the field wants."""
    if name in _PATTERN_FIELDS:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidRulesError(f"{name} must be a list of patterns.")
        return tuple(value)
    if name == "keep_newest" and value is not None and not isinstance(value, int):
        raise InvalidRulesError("keep_newest must be a whole number or null.")
    if name == "older_than" and value is not None and not isinstance(value, str):
        raise InvalidRulesError('older_than must be a duration like "90d" or null.')
    return value

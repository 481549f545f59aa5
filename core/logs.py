"""Logging set up once at start: a rotating file under the platformdirs log
directory, with a filter that blanks anything that looks like a credential."""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
from pathlib import Path

import platformdirs

APP_NAME = "regsweep"
_SECRET_RE = re.compile(
    r"(?i)(authorization:?\s*|bearer\s+|basic\s+|password[=:]\s*|token[=:]\s*)"
    r"[^\s,;\"']+"
)


def log_dir() -> Path:
    override = os.environ.get("REGSWEEP_LOG_DIR")
    return Path(override) if override else Path(platformdirs.user_log_dir(APP_NAME))


def log_file() -> Path:
    return log_dir() / f"{APP_NAME}.log"


class RedactingFilter(logging.Filter):
    """Defence in depth: the code never logs secrets, and this makes sure."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        cleaned = _SECRET_RE.sub(r"\1[redacted]", text)
        if cleaned != text:
            record.msg, record.args = cleaned, None
        return True


def configure(debug: bool | None = None) -> Path:
    """Send every module's log to the rotating file; return its path.

    One line per registry call is logged at DEBUG, which the file records
    only with ``debug`` (or ``REGSWEEP_DEBUG=1``); user actions are INFO."""
    if debug is None:
        debug = os.environ.get("REGSWEEP_DEBUG", "") not in ("", "0")
    path = log_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"
        )
    )
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_regsweep", False)]:
        root.removeHandler(old)
        old.close()
    handler._regsweep = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    return path

"""What the window remembers between runs: its size, the last profile and
repository. A small JSON file next to the profiles, written atomically."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from core import errors
from core.profiles import config_dir, read_json, write_json_atomic

log = logging.getLogger(__name__)

STATE_FILE = "window-state.json"
_SCHEMA_VERSION = 1


@dataclass
class WindowState:
    width: int = 1280
    height: int = 760
    maximized: bool = False
    profile_id: str = ""
    repository: str = ""

    @classmethod
    def load(cls, directory: Path | None = None) -> WindowState:
        """The saved state; defaults when there is none or it is unreadable."""
        path = (directory or config_dir()) / STATE_FILE
        try:
            document = read_json(path, "The window state") or {}
        except errors.ConfigError as exc:
            log.warning("ignoring the window state: %s", exc)
            return cls()
        state = cls()
        for item in fields(cls):
            value = document.get(item.name)
            if isinstance(value, type(getattr(state, item.name))):
                setattr(state, item.name, value)
        return state

    def save(self, directory: Path | None = None) -> None:
        path = (directory or config_dir()) / STATE_FILE
        document = {"schema_version": _SCHEMA_VERSION, **asdict(self)}
        try:
            write_json_atomic(path, document)
        except OSError as exc:
            log.warning("the window state could not be saved: %s", exc)

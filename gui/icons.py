"""The application icon, from a freedesktop icon tree (``hicolor``): the one
under resources/icons in a source checkout, or the copy that ``pip install``
puts under ``<prefix>/share/icons`` (see ``[tool.setuptools.data-files]``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtGui import QIcon

ICON_NAME = "regsweep"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256)
SOURCE_THEME = Path(__file__).resolve().parent.parent / "resources/icons/hicolor"
INSTALLED_THEME = Path(sys.prefix) / "share/icons/hicolor"


def icon_files(theme: Path) -> list[Path]:
    """The Regsweep icons present in ``theme``: the SVG, then each PNG size."""
    wanted = [theme / "scalable/apps" / f"{ICON_NAME}.svg"] + [
        theme / f"{n}x{n}/apps" / f"{ICON_NAME}.png" for n in PNG_SIZES
    ]
    return [path for path in wanted if path.is_file()]


def app_icon(themes: Sequence[Path] = (SOURCE_THEME, INSTALLED_THEME)) -> QIcon:
    """The Regsweep icon in every size the first tree that has it offers;
    else whatever the desktop's icon theme has under the name."""
    for theme in themes:
        files = icon_files(theme)
        if files:
            icon = QIcon()
            for path in files:
                icon.addFile(str(path))
            return icon
    return QIcon.fromTheme(ICON_NAME)

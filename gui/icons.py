"""The application icon, from the plain files under resources/."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QIcon

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
ICON_DIR = RESOURCES / "icons"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256)


def app_icon() -> QIcon:
    """The Regsweep icon in every size there is; empty if none are installed."""
    icon = QIcon()
    svg = ICON_DIR / "regsweep.svg"
    if svg.exists():
        icon.addFile(str(svg))
    for size in PNG_SIZES:
        png = ICON_DIR / f"regsweep-{size}.png"
        if png.exists():
            icon.addFile(str(png))
    return icon

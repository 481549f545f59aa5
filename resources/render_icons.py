"""Render the SVG icon to PNGs of every size Regsweep ships, in the
freedesktop layout under resources/icons/hicolor (installed as it is).

Run from the project root after changing the SVG:
    QT_QPA_PLATFORM=offscreen python resources/render_icons.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

THEME = Path(__file__).resolve().parent / "icons" / "hicolor"
SIZES = (16, 24, 32, 48, 64, 128, 256)


def render(svg: Path, size: int, target: Path) -> None:
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    if not image.save(str(target)):
        raise SystemExit(f"could not write {target}")


def main() -> int:
    app = QGuiApplication(sys.argv)  # noqa: F841 - QImage painting needs one
    svg = THEME / "scalable/apps/regsweep.svg"
    for size in SIZES:
        target = THEME / f"{size}x{size}/apps/regsweep.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        render(svg, size, target)
    print(f"wrote {len(SIZES)} PNGs under {THEME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

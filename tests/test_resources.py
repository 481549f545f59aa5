"""The icon and desktop entry: present, listed for installation, and found by
the window both in a source checkout and where ``pip install`` puts them."""

from __future__ import annotations

import configparser
import shutil
import tomllib
from pathlib import Path

from gui.icons import ICON_NAME, PNG_SIZES, SOURCE_THEME, app_icon, icon_files

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_resource_is_installed_and_every_installed_file_exists() -> None:
    data_files = PYPROJECT["tool"]["setuptools"]["data-files"]
    listed = {
        (target, source) for target, sources in data_files.items() for source in sources
    }
    on_disk = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "resources").rglob("*")
        if path.suffix in {".png", ".svg", ".desktop"}
    }
    assert {source for _, source in listed} == on_disk
    for target, source in listed:
        # Icons keep their place in the tree: resources/icons/hicolor/16x16/apps
        # goes to share/icons/hicolor/16x16/apps.
        if source.endswith(".desktop"):
            assert target == "share/applications"
        else:
            assert target == "share/" + Path(source).parent.as_posix().removeprefix(
                "resources/"
            )


def test_the_desktop_entry_starts_the_installed_window_command() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.read(ROOT / "resources" / "regsweep.desktop")
    desktop = entry["Desktop Entry"]
    assert desktop["Exec"] in PYPROJECT["project"]["gui-scripts"]
    assert desktop["Icon"] == ICON_NAME
    assert desktop["Terminal"] == "false"


def test_the_source_tree_has_the_svg_and_every_png_size(qapp: object) -> None:
    assert len(icon_files(SOURCE_THEME)) == 1 + len(PNG_SIZES)
    icon = app_icon()
    assert not icon.isNull()
    assert icon.pixmap(48).width() == 48


def test_an_installed_copy_is_found_when_the_source_tree_is_not_there(
    qapp: object, tmp_path: Path
) -> None:
    installed = tmp_path / "share" / "icons" / "hicolor"
    shutil.copytree(SOURCE_THEME, installed)
    missing = tmp_path / "no-checkout"

    assert icon_files(missing) == []
    assert icon_files(installed) == [
        installed / "scalable/apps/regsweep.svg",
        *(installed / f"{n}x{n}/apps/regsweep.png" for n in PNG_SIZES),
    ]
    assert not app_icon((missing, installed)).isNull()
    assert app_icon((missing,)).isNull()  # no theme here has one either

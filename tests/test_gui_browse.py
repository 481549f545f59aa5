"""Browsing a real registry through the window: repositories, tags, details,
sorting, filtering, copying references, and what the window remembers."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from devtools.registry import LocalRegistry, start_registry
from devtools.seed import Seeder, seed_standard
from gui import tasks
from gui.main_window import MainWindow
from gui.models import Column
from gui.state import WindowState

pytest_plugins = ["tests.gui_fixtures"]

if TYPE_CHECKING:
    from tests.gui_fixtures import GuiDriver


def table_column(window: MainWindow, column: Column) -> list[str]:
    proxy = window.tag_panel.proxy
    return [proxy.index(row, column).data() for row in range(proxy.rowCount())]


def click_header(qtbot: QtBot, window: MainWindow, column: Column) -> None:
    header = window.tag_panel.table.horizontalHeader()
    x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
    qtbot.mouseClick(
        header.viewport(),
        Qt.MouseButton.LeftButton,
        pos=QPoint(x, header.height() // 2),
    )


def test_browse_repositories_tags_and_details(
    qtbot: QtBot, gui: GuiDriver, registry: LocalRegistry, seeder: Seeder
) -> None:
    pushed = seed_standard(seeder)
    window = gui.window(registry)

    qtbot.waitUntil(lambda: window.repo_panel.model.rowCount() == 4)
    assert window.repo_panel.model.names() == seeder.catalog()
    gui.open_repository(window, "app")

    assert table_column(window, Column.TAG) == ["1.0", "1.1", "latest", "stable"]
    digest_11 = pushed["app"]["1.1"].digest
    model = window.tag_model
    row = model.tags.index("latest")
    assert model.index(row, Column.SHARED).data() == "1.1, stable"
    assert model.index(row, Column.DIGEST).data() == digest_11[:19]
    assert (
        model.index(row, Column.DIGEST).data(Qt.ItemDataRole.ToolTipRole) == digest_11
    )
    assert model.index(row, Column.CREATED).data() != ""
    assert window.status.load_label.text() == "4 tags"

    gui.open_repository(window, "multi/oci")
    assert table_column(window, Column.KIND) == ["multi-platform"]
    assert table_column(window, Column.PLATFORMS) == ["linux/amd64, linux/arm64"]


def test_sort_by_size_and_date_from_the_header(
    qtbot: QtBot, gui: GuiDriver, registry: LocalRegistry, seeder: Seeder
) -> None:
    images = {  # tag: (layer bytes, created)
        "small-new": (100, "2024-05-01T00:00:00Z"),
        "big-old": (90_000, "2019-01-01T00:00:00Z"),
        "medium-mid": (9_000, "2021-07-01T00:00:00Z"),
        "tiny-newest": (10, "2025-01-01T00:00:00Z"),
    }
    for tag, (size, created) in images.items():
        seeder.push_image("sizes", [tag], layer_sizes=(size,), created=created)
    window = gui.window(registry, "sizes")

    click_header(qtbot, window, Column.SIZE)
    assert table_column(window, Column.TAG) == [
        "tiny-newest",
        "small-new",
        "medium-mid",
        "big-old",
    ]
    click_header(qtbot, window, Column.SIZE)
    assert table_column(window, Column.TAG)[0] == "big-old"

    click_header(qtbot, window, Column.CREATED)
    assert table_column(window, Column.TAG) == [
        "big-old",
        "medium-mid",
        "small-new",
        "tiny-newest",
    ]


def test_filter_by_text_and_regular_expression(
    qtbot: QtBot, gui: GuiDriver, registry: LocalRegistry, seeder: Seeder
) -> None:
    seeder.push_many("many", 30, prefix="v")
    window = gui.window(registry, "many")
    panel = window.tag_panel

    qtbot.keyClicks(panel.filter_edit, "v2")
    assert sorted(table_column(window, Column.TAG)) == [
        "v2",
        *[f"v2{i}" for i in range(10)],
    ]
    panel.filter_edit.clear()
    panel.regex_button.click()
    qtbot.keyClicks(panel.filter_edit, r"^v1\d$")
    assert table_column(window, Column.TAG) == [f"v1{i}" for i in range(10)]
    qtbot.keyClicks(panel.filter_edit, "(")
    assert panel.filter_message.isVisible()
    assert "regular expression" in panel.filter_message.text()
    assert len(table_column(window, Column.TAG)) == 10


def test_copy_tag_and_digest_references(
    gui: GuiDriver, registry: LocalRegistry, seeder: Seeder
) -> None:
    pushed = seed_standard(seeder)
    window = gui.window(registry, "app")
    host = registry.url.split("://")[1]

    window.tag_panel.select_tags(["1.0"])
    window.tag_panel.copy_tag_action.trigger()
    assert QGuiApplication.clipboard().text() == f"{host}/app:1.0"
    window.tag_panel.copy_digest_action.trigger()
    digest = pushed["app"]["1.0"].digest
    assert QGuiApplication.clipboard().text() == f"{host}/app@{digest}"


@pytest.mark.usefixtures("gc_on_gui_thread")
def test_shortcuts_are_bound() -> None:
    from PySide6.QtGui import QKeySequence

    from core.profiles import ProfileStore

    window = MainWindow(ProfileStore(Path("/nonexistent-for-test")), WindowState())
    try:
        panel = window.tag_panel
        assert panel.delete_action.shortcut() == QKeySequence(
            QKeySequence.StandardKey.Delete
        )
        assert panel.select_all_action.shortcut() == QKeySequence("Ctrl+A")
        assert window.refresh_action.shortcut() == QKeySequence("F5")
        assert window.filter_action.shortcut() == QKeySequence("Ctrl+F")
    finally:
        window.deleteLater()


def test_switching_repository_cancels_the_old_work(
    qtbot: QtBot, gui: GuiDriver, registry: LocalRegistry, seeder: Seeder
) -> None:
    seeder.push_many("big", 600)
    seed_standard(seeder)
    window = gui.window(registry)
    gui.select_repository(window, "big")
    qtbot.waitUntil(lambda: window.tag_model.rowCount() == 600)
    qtbot.waitUntil(lambda: window.tag_model.resolved_count() > 0)
    old_loader = window.session._loader
    gui.open_repository(window, "app")

    assert old_loader.cancel_event.is_set()
    assert window.tag_model.tags == ["1.0", "1.1", "latest", "stable"]
    qtbot.wait(200)  # late batches of the old repository must not arrive
    assert window.tag_model.tags == ["1.0", "1.1", "latest", "stable"]


def test_visible_rows_are_loaded_first(
    qtbot: QtBot, gui: GuiDriver, registry: LocalRegistry, seeder: Seeder
) -> None:
    seeder.push_many("big", 1500)
    window = gui.window(registry)
    gui.select_repository(window, "big")
    qtbot.waitUntil(lambda: window.tag_model.rowCount() == 1500)

    # Jump to the bottom: those rows must be loaded long before the rest.
    table = window.tag_panel.table
    table.scrollToBottom()
    visible = window.tag_panel.visible_tags()
    assert visible[-1] == window.tag_panel.proxy.index(1499, 0).data()
    qtbot.waitUntil(
        lambda: all(window.tag_model.head(t) is not None for t in visible[-10:]),
        timeout=20_000,
    )
    assert window.tag_model.resolved_count() < 1500


def test_a_refused_catalog_lets_the_user_type_a_name(
    qtbot: QtBot, tmp_path: Path, gui: GuiDriver
) -> None:
    with start_registry(
        tmp_path / "reg", auth="token", token_acl={"alice": {"pull", "push", "delete"}}
    ) as registry:
        with Seeder(registry) as seeder:
            seeder.push_image("hidden/app", ["1"])
        window = gui.window(registry)
        panel = window.repo_panel
        qtbot.waitUntil(lambda: "Type a repository name" in panel.state_label.text())

        qtbot.keyClicks(panel.name_edit, "Not A Name")
        panel.open_button.click()
        assert "not a valid repository name" in panel.name_message.text()
        panel.name_edit.clear()
        qtbot.keyClicks(panel.name_edit, "hidden/app")
        panel.open_button.click()
        qtbot.waitUntil(lambda: window.tag_model.tags == ["1"])
        window.close()


def test_the_window_remembers_size_profile_and_repository(
    qtbot: QtBot,
    gui: GuiDriver,
    registry: LocalRegistry,
    seeder: Seeder,
    config_dir: Path,
) -> None:
    seed_standard(seeder)
    window = gui.window(registry, "team/api")
    window.resize(900, 640)
    window.close()

    state = WindowState.load()
    assert (state.width, state.height, state.repository) == (900, 640, "team/api")
    assert (config_dir / "window-state.json").exists()

    again = MainWindow(window.store, WindowState.load())
    qtbot.addWidget(again)
    again.show()
    assert again.size().width() == 900
    assert again.profile_combo.currentText() == "Test"
    qtbot.waitUntil(lambda: again.tag_model.tags == ["v1", "v2"])


def test_a_dead_details_helper_leaves_no_row_waiting_and_f5_recovers(
    qtbot: QtBot, gui: GuiDriver, registry: LocalRegistry, seeder: Seeder
) -> None:
    seeder.push_many("many", 600, workers=8)
    window = gui.window(registry)
    gui.select_repository(window, "many")
    model = window.tag_model
    qtbot.waitUntil(lambda: model.resolved_count() > 0, timeout=30_000)
    helper = tasks._DetailsProcess.shared()
    assert helper.pid is not None
    os.kill(helper.pid, signal.SIGKILL)  # the helper this test's window started

    qtbot.waitUntil(lambda: not window.session.loading_details, timeout=20_000)
    statuses = [model.index(r, Column.STATUS).data() for r in range(model.rowCount())]
    assert not [s for s in statuses if s in ("resolving…", "loading details…")]
    stopped = [s for s in statuses if "helper process" in s]
    assert stopped and len(stopped) < len(statuses)  # some had loaded before

    window.refresh_action.trigger()
    gui.wait_loaded(window, "many", timeout_ms=60_000)
    assert tasks._DetailsProcess.shared().pid != helper.pid
    statuses = [model.index(r, Column.STATUS).data() for r in range(model.rowCount())]
    assert set(statuses) == {""}


def test_details_loaded_on_threads_in_process_match_the_helper(
    qtbot: QtBot, gui: GuiDriver, registry: LocalRegistry, seeder: Seeder
) -> None:
    seed_standard(seeder)
    window = gui.window(registry, "app")
    session = window.session
    assert session is not None
    from_helper = [table_column(window, column) for column in Column]

    session.details_in_process = True
    window.refresh_action.trigger()
    gui.wait_loaded(window, "app")
    assert session._loader is not None and session._loader._local is not None
    assert [table_column(window, column) for column in Column] == from_helper
    assert from_helper[Column.SHARED][0] == ""  # 1.0 shares its digest with none

"""The delete preview's "remove only the selected tags" choice and its
warnings, checked against the registry through the Seeder."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from core.client import RegistryClient, RegistryConfig
from core.delete import Outcome
from core.journal import Journal
from core.plan import build_plan
from core.reference import ImageRef
from devtools.registry import LocalRegistry
from devtools.seed import Seeder, seed_standard
from gui.delete_dialog import UNTAG_COLUMN, DeletePreviewDialog

pytest_plugins = ["tests.gui_fixtures"]

if TYPE_CHECKING:
    from tests.gui_fixtures import GuiDriver


def tick(preview: DeletePreviewDialog, digest: str, on: bool = True) -> None:
    """Click the row's "remove only the selected tags" box with the mouse."""
    tree = preview.tree
    row = tree.topLevelItem(preview.digests().index(digest))
    assert (row.checkState(UNTAG_COLUMN) == Qt.CheckState.Checked) != on
    rect = tree.visualItemRect(row)
    x = tree.header().sectionViewportPosition(UNTAG_COLUMN) + 12
    QTest.mouseClick(
        tree.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, rect.center().y())
    )
    assert (row.checkState(UNTAG_COLUMN) == Qt.CheckState.Checked) == on


def test_untag_only_keeps_the_image_and_its_other_tags(
    gui: GuiDriver, registry: LocalRegistry, seeder: Seeder
) -> None:
    pushed = seed_standard(seeder)
    digest = pushed["app"]["1.1"].digest
    window, preview = gui.delete_preview(registry, "app", ["1.0", "1.1"])
    assert preview.delete_button.text() == "Delete 2 images"
    assert "latest, stable" in preview.also_warning.text()

    tick(preview, digest)

    assert preview.delete_button.text() == "Delete 1 image, untag 1"
    assert "2 tags will disappear" in preview.heading.text()
    assert preview.also_warning.isHidden()
    assert "push rights" in preview.untag_note.text()
    rows = {row[0]: row for row in preview.row_texts()}
    assert rows[digest[:19]][3] == "kept: latest, stable"
    assert [i.untag_only for i in preview.plan.items if i.digest == digest] == [True]

    report = gui.confirm(window, preview)

    assert report.count(Outcome.UNTAGGED) == 1 and report.count(Outcome.DELETED) == 1
    assert seeder.tags("app") == ["latest", "stable"]
    assert seeder.digest_of("app", "latest") == digest
    assert seeder.digest_of("app", "stable") == digest
    assert seeder.manifest_exists("app", digest)
    assert not seeder.manifest_exists("app", pushed["app"]["1.0"].digest)
    assert sorted(window.tag_model.tags) == ["latest", "stable"]
    untag_entry = Journal().entries()
    assert {(e.action, e.outcome) for e in untag_entry} == {
        ("untag", "untagged"),
        ("delete", "deleted"),
    }


def test_unticking_goes_back_to_deleting_the_image(
    gui: GuiDriver, registry: LocalRegistry, seeder: Seeder
) -> None:
    pushed = seed_standard(seeder)
    digest = pushed["app"]["1.1"].digest
    _, preview = gui.delete_preview(registry, "app", ["1.1"])

    tick(preview, digest)
    assert preview.delete_button.text() == "Untag 1 image"
    tick(preview, digest, on=False)

    assert preview.delete_button.text() == "Delete 1 image"
    assert "latest, stable" in preview.also_warning.text()
    assert preview.untag_note.isHidden()
    assert not preview.plan.items[0].untag_only
    preview.reject()
    assert seeder.tags("app") == ["1.0", "1.1", "latest", "stable"]


def test_rows_without_other_tags_offer_no_choice(
    gui: GuiDriver, registry: LocalRegistry, seeder: Seeder
) -> None:
    seed_standard(seeder)
    _, preview = gui.delete_preview(registry, "team/api", ["v1"])

    row = preview.tree.topLevelItem(0)
    assert row.data(UNTAG_COLUMN, Qt.ItemDataRole.CheckStateRole) is None
    assert row.text(UNTAG_COLUMN) == ""
    preview.reject()


def test_preview_shows_the_platform_image_warning(
    qtbot: QtBot, registry: LocalRegistry, seeder: Seeder
) -> None:
    pushed = seed_standard(seeder)
    child = pushed["multi/oci"]["1"].children[0]
    with RegistryClient(RegistryConfig(registry.url)) as client:
        plan = build_plan(client, [ImageRef("multi/oci", digest=child.digest)])
    assert plan.items[0].warnings

    preview = DeletePreviewDialog(plan, "registry.test")
    qtbot.addWidget(preview)

    text = preview.warnings.text()
    assert "multi-platform multi/oci:1" in text and "linux/amd64" in text
    assert not preview.warnings.isHidden()
    assert "multi-platform" in preview.tree.topLevelItem(0).toolTip(0)

"""Deleting through the window, checked against the registry itself (through
the Seeder's own HTTP calls, not the GUI)."""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

import pytest
from pytestqt.qtbot import QtBot

from core.delete import Outcome
from devtools.registry import LocalRegistry
from devtools.seed import Seeder, seed_standard
from gui import tasks
from gui.models import Column

pytest_plugins = ["tests.gui_fixtures"]

if TYPE_CHECKING:
    from tests.gui_fixtures import GuiDriver


def every_manifest(seeder: Seeder, pushed: dict) -> dict[str, set[str]]:
    """repo -> digests of every tagged image or index the standard set pushed."""
    return {
        repo: {image.digest for image in tags.values()} for repo, tags in pushed.items()
    }


def test_delete_two_tags_one_sharing_its_digest(
    gui: GuiDriver, registry: LocalRegistry, seeder: Seeder, prompts
) -> None:
    pushed = seed_standard(seeder)
    window = gui.window(registry, "app")
    sent_before = window.session.client.requests_sent

    preview = gui.press_delete(window, ["1.0", "1.1"])

    # The table knew every digest: the preview cost no request at all.
    assert window.session.client.requests_sent == sent_before
    old, new = pushed["app"]["1.0"].digest, pushed["app"]["1.1"].digest
    assert sorted(preview.digests()) == sorted([old, new])
    rows = {row[0]: row for row in preview.row_texts()}
    assert rows[new[:19]][2:4] == ["1.1", "latest, stable"]
    assert rows[old[:19]][2:4] == ["1.0", ""]
    assert "latest, stable" in preview.also_warning.text()
    assert "Nothing has been sent" in preview.footer.text()
    assert seeder.tags("app") == ["1.0", "1.1", "latest", "stable"]

    report = gui.confirm(window, preview)

    assert report.count(Outcome.DELETED) == 2
    assert window.status.progress.value() == window.status.progress.maximum() == 2
    assert window.tag_model.rowCount() == 0
    assert window.status.load_label.text() == "0 tags"
    assert window.tag_panel.placeholder.text() == "app has no tags left."
    assert window.tag_panel.stack.currentWidget() is window.tag_panel.placeholder
    assert seeder.tags("app") == []
    assert not seeder.manifest_exists("app", old)
    assert not seeder.manifest_exists("app", new)
    expected = every_manifest(seeder, pushed)
    for repo in ("team/api", "multi/docker", "multi/oci"):
        assert all(seeder.manifest_exists(repo, d) for d in expected[repo])
        assert seeder.tags(repo) == sorted(pushed[repo])
    title, summary, note = prompts.infos[-1]
    assert (title, summary) == ("Deletion finished", "2 deleted")
    assert "garbage-collect" in note and "--delete-untagged" in note


def test_preview_of_a_multi_platform_image_lists_its_platforms(
    qtbot: QtBot, gui: GuiDriver, registry: LocalRegistry, seeder: Seeder
) -> None:
    pushed = seed_standard(seeder)
    window, preview = gui.delete_preview(registry, "multi/oci", ["1"])
    assert preview.row_texts() == [
        [
            pushed["multi/oci"]["1"].digest[:19],
            "multi-platform",
            "1",
            "",
            "linux/amd64, linux/arm64",
        ]
    ]
    assert "platform images stay" in preview.index_note.text()
    platforms = preview.tree.topLevelItem(0).text(4)
    needed = preview.tree.fontMetrics().horizontalAdvance(platforms)
    assert preview.tree.columnWidth(4) > needed  # shown whole, not elided

    preview.reject()
    qtbot.waitUntil(lambda: "Nothing was deleted" in window.status.currentMessage())
    assert seeder.tags("multi/oci") == ["1"]
    assert window.tag_model.tags == ["1"]


def test_cancel_half_way_leaves_the_rest_and_reports_what_was_done(
    gui: GuiDriver, registry: LocalRegistry, seeder: Seeder, prompts
) -> None:
    digests = seeder.push_many("bulk", 400)
    window = gui.window(registry, "bulk")
    window.tag_panel.table.setFocus()
    window.tag_panel.select_all_action.trigger()
    preview = gui.preview_deletion(window)
    assert len(preview.digests()) == 400

    def cancel_on_first_result(results: list) -> None:
        if window.status.cancel_button.isEnabled():
            window.status.cancel_button.click()

    window.session.deletion_progressed.connect(cancel_on_first_result)
    report = gui.confirm(window, preview)

    deleted = {r.item.tags[0] for r in report.results if r.outcome is Outcome.DELETED}
    cancelled = [r for r in report.results if r.outcome is Outcome.CANCELLED]
    assert report.cancelled
    assert 0 < len(deleted) < 400
    assert cancelled and len(deleted) + len(cancelled) == 400
    remaining = set(seeder.tags("bulk"))
    assert remaining == set(digests) - deleted
    for tag in list(deleted)[:20]:
        assert not seeder.manifest_exists("bulk", digests[tag])
    assert set(window.tag_model.tags) == remaining
    assert window.status.load_label.text() == f"{len(remaining)} tags"
    assert f"{len(deleted)} deleted" in window.status.currentMessage()
    assert "not started (cancelled)" in prompts.infos[-1][1]


def test_deletion_disabled_keeps_the_rows_marked_with_the_reason(
    gui: GuiDriver, nodelete_registry: LocalRegistry, prompts
) -> None:
    with Seeder(nodelete_registry) as seeder:
        seed_standard(seeder)
        window = gui.window(nodelete_registry, "team/api")

        report = gui.confirm(window, gui.press_delete(window, ["v1", "v2"]))

        assert report.count(Outcome.FAILED) == 2
        assert seeder.tags("team/api") == ["v1", "v2"]
    model = window.tag_model
    assert model.tags == ["v1", "v2"]
    status = model.index(0, Column.STATUS).data()
    assert status.startswith("Not deleted:") and "deletion is disabled" in status
    title, summary, more = prompts.errors[-1]
    assert title == "Nothing was deleted"
    assert summary == "0 deleted, 2 failed: deletion disabled on this registry"
    assert "storage.delete.enabled" in more
    assert window.status.currentMessage() == summary


def test_a_helper_dying_mid_deletion_calls_nothing_deleted_it_did_not_report(
    gui: GuiDriver, registry: LocalRegistry, seeder: Seeder, prompts
) -> None:
    digests = seeder.push_many("bulk", 200)
    window = gui.window(registry, "bulk")
    window.tag_panel.table.setFocus()
    window.tag_panel.select_all_action.trigger()
    preview = gui.preview_deletion(window)
    helper = tasks._DetailsProcess.shared()

    def kill_on_first_result(results: list) -> None:
        if helper.pid is not None and helper.alive:
            os.kill(helper.pid, signal.SIGKILL)  # the helper this window uses

    window.session.deletion_progressed.connect(kill_on_first_result)
    report = gui.confirm(window, preview)

    assert len(report.results) == 200  # every image has an answer
    deleted = {r.item.tags[0] for r in report.results if r.outcome is Outcome.DELETED}
    unknown = [r for r in report.results if r.outcome is Outcome.FAILED]
    assert deleted and unknown and len(deleted) + len(unknown) == 200
    assert all("before this image's result was known" in r.message for r in unknown)
    remaining = set(seeder.tags("bulk"))
    assert not deleted & remaining  # reported deleted: gone from the registry
    # In flight when the helper died: may be gone; none was called deleted.
    assert set(digests) - deleted - {r.item.tags[0] for r in unknown} == set()
    assert {r.item.tags[0] for r in unknown} >= remaining
    assert window.status.progress.value() == 200
    assert set(window.tag_model.tags) == {r.item.tags[0] for r in unknown}
    status = window.tag_model.index(0, Column.STATUS).data()
    assert status.startswith("Not deleted: The deletion stopped")

    # F5 shows what is really left; deleting again starts a new helper.
    window.refresh_action.trigger()
    gui.qtbot.waitUntil(lambda: set(window.tag_model.tags) == remaining)
    gui.wait_loaded(window, "bulk")
    last = sorted(remaining)[0]
    again = gui.confirm(window, gui.press_delete(window, [last]))
    assert again.count(Outcome.DELETED) == 1
    assert last not in seeder.tags("bulk")
    assert tasks._DetailsProcess.shared().pid != helper.pid


def test_the_benchmarks_in_process_path_deletes_the_same_way(
    gui: GuiDriver,
    registry: LocalRegistry,
    seeder: Seeder,
    prompts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # bench/gui_bench.py compares the helper with threads in the window's
    # process; that side must do the same deletion.
    pushed = seed_standard(seeder)
    monkeypatch.setattr(tasks.HelperTask, "in_process", True)

    def no_helper_call(*args: object) -> int:
        raise AssertionError("the helper was asked")

    monkeypatch.setattr(tasks._DetailsProcess, "call", no_helper_call)
    window = gui.window(registry, "app")

    report = gui.confirm(window, gui.press_delete(window, ["1.0"]))

    assert report.count(Outcome.DELETED) == 1
    assert seeder.tags("app") == ["1.1", "latest", "stable"]
    assert not seeder.manifest_exists("app", pushed["app"]["1.0"].digest)

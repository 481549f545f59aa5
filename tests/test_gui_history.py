"""The deletion history window: entries made by core deletions, filters,
exports, and restores checked against the registry through the Seeder."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pytestqt.qtbot import QtBot

from core.client import RegistryClient, RegistryConfig
from core.delete import run_plan
from core.journal import Journal
from core.plan import build_plan
from core.reference import ImageRef
from devtools.registry import LocalRegistry
from devtools.seed import Seeder, seed_standard
from gui.export import SaveAs
from gui.history_window import HEADERS, HistoryModel, HistoryWindow

pytest_plugins = ["tests.gui_fixtures"]

if TYPE_CHECKING:
    from tests.gui_fixtures import GuiDriver


def delete_through_core(
    registry: LocalRegistry, refs: list[tuple[str, str]], untag: bool = False
) -> None:
    """Delete ``(repository, tag)`` pairs with core, journalled as profile Test."""
    with RegistryClient(RegistryConfig(registry.url)) as client:
        plan = build_plan(client, [ImageRef(repo, tag=tag) for repo, tag in refs])
        if untag:
            plan.untag_shared()
        results = run_plan(client, plan.items, journal=Journal(), profile="Test")
    assert all(r.done for r in results), [r.message for r in results]


def row(history: HistoryWindow, number: int) -> list[str]:
    model = history.model
    return [model.index(number, c).data() for c in range(len(HEADERS))]


def test_history_lists_core_deletions_newest_first(
    registry: LocalRegistry, seeder: Seeder, gui: GuiDriver
) -> None:
    pushed = seed_standard(seeder)
    delete_through_core(registry, [("team/api", "v1")])
    delete_through_core(registry, [("app", "1.0")])
    window = gui.window(registry)

    history = gui.open_history(window)

    assert history.model.rowCount() == 2
    newest, oldest = row(history, 0), row(history, 1)
    app_digest = pushed["app"]["1.0"].digest
    assert newest[1:] == [
        "delete",
        "app",
        app_digest[:19],
        "1.0",
        "deleted",
        "",
    ]
    assert oldest[2] == "team/api" and oldest[5] == "deleted"
    assert newest[0] >= oldest[0] and len(newest[0]) == len("2026-01-01 12:00")
    assert "2 of 2 entries" in history.count_label.text()


def test_text_and_outcome_filters(
    qtbot: QtBot, registry: LocalRegistry, seeder: Seeder, gui: GuiDriver
) -> None:
    seed_standard(seeder)
    delete_through_core(registry, [("team/api", "v1")])
    delete_through_core(registry, [("app", "1.1")], untag=True)
    history = gui.open_history(gui.window(registry))
    assert [e.outcome for e in history.shown_entries()] == ["untagged", "deleted"]

    qtbot.keyClicks(history.filter_edit, "team/")
    assert [e.repository for e in history.shown_entries()] == ["team/api"]
    history.filter_edit.clear()
    history.outcome_combo.setCurrentIndex(history.outcome_combo.findData("untagged"))
    shown = history.shown_entries()
    assert [(e.repository, e.action, e.untagged) for e in shown] == [
        ("app", "untag", ["1.1"])
    ]
    assert row(history, 0)[4] == "1.1"
    history.outcome_combo.setCurrentIndex(history.outcome_combo.findData("failed"))
    assert history.model.rowCount() == 0
    assert "0 of 2 entries" in history.count_label.text()


def test_exports_write_the_shown_entries(
    qtbot: QtBot,
    registry: LocalRegistry,
    seeder: Seeder,
    gui: GuiDriver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pushed = seed_standard(seeder)
    delete_through_core(registry, [("team/api", "v1")])
    delete_through_core(registry, [("app", "1.0")])
    history = gui.open_history(gui.window(registry))
    qtbot.keyClicks(history.filter_edit, "app")
    targets = iter([tmp_path / "out.csv", tmp_path / "out.json"])
    monkeypatch.setattr(
        SaveAs, "path", classmethod(lambda cls, *args: str(next(targets)))
    )

    with qtbot.waitSignal(history.exported) as csv_done:
        history.csv_button.click()
    with qtbot.waitSignal(history.exported) as json_done:
        history.json_button.click()

    text = Path(csv_done.args[0]).read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    assert [(r["repository"], r["digest"], r["outcome"]) for r in rows] == [
        ("app", pushed["app"]["1.0"].digest, "deleted")
    ]
    assert rows[0]["profile"] == "Test" and rows[0]["registry"] == registry.url
    exported = json.loads(Path(json_done.args[0]).read_text(encoding="utf-8"))
    assert [(e["repository"], e["tags"]) for e in exported] == [("app", "1.0")]


def test_restore_brings_the_tags_back(
    qtbot: QtBot, registry: LocalRegistry, seeder: Seeder, gui: GuiDriver, prompts
) -> None:
    pushed = seed_standard(seeder)
    digest = pushed["app"]["1.1"].digest
    delete_through_core(registry, [("app", "1.1")])
    assert seeder.tags("app") == ["1.0"]
    window = gui.window(registry, "app")
    history = gui.open_history(window)
    entry = history.shown_entries()[0]

    outcome = gui.restore(history, entry.id)

    assert outcome.ok and outcome.result.ok
    assert seeder.tags("app") == ["1.0", "1.1", "latest", "stable"]
    for tag in ("1.1", "latest", "stable"):
        assert seeder.digest_of("app", tag) == digest
    title, text, _ = prompts.infos[-1]
    assert title == "Restored" and "1.1, latest, stable" in text
    assert row(history, 0)[6] == "restored"
    assert prompts.errors == []
    # The main window reloads, so the restored tags are listed there too.
    qtbot.waitUntil(lambda: len(window.tag_model.tags) == 4, timeout=20_000)
    assert sorted(window.tag_model.tags) == ["1.0", "1.1", "latest", "stable"]


def test_restore_leaves_a_tag_pushed_since_alone(
    registry: LocalRegistry, seeder: Seeder, gui: GuiDriver, prompts
) -> None:
    pushed = seed_standard(seeder)
    delete_through_core(registry, [("app", "1.1")])
    newer = seeder.push_image("app", ["latest"], salt="pushed-after")
    history = gui.open_history(gui.window(registry))

    gui.restore(history, history.shown_entries()[0].id)

    assert seeder.digest_of("app", "latest") == newer.digest
    assert seeder.digest_of("app", "stable") == pushed["app"]["1.1"].digest
    title, text, _ = prompts.infos[-1]
    assert title == "Partly restored" and "latest: now points at another" in text
    assert row(history, 0)[6] == "partial"


def test_restore_after_garbage_collection_says_gone_for_good(
    registry: LocalRegistry, seeder: Seeder, gui: GuiDriver, prompts
) -> None:
    seed_standard(seeder)
    delete_through_core(registry, [("team/api", "v1")])
    registry.stop()
    registry.garbage_collect()
    registry.start()
    history = gui.open_history(gui.window(registry))

    outcome = gui.restore(history, history.shown_entries()[0].id)

    assert outcome.result.gone_for_good
    title, text, _ = prompts.errors[-1]
    assert title == "Gone for good" and "garbage collection" in text
    assert seeder.tags("team/api") == ["v2"]
    assert row(history, 0)[6] == "gone"


def test_restore_needs_the_entrys_registry_connected(
    registry: LocalRegistry, seeder: Seeder, gui: GuiDriver, prompts, tmp_path: Path
) -> None:
    seed_standard(seeder)
    delete_through_core(registry, [("team/api", "v1")])
    history = gui.open_history(gui.window())  # no profile: not connected

    assert history.select_entry(history.shown_entries()[0].id)
    history.restore_button.click()

    title, text, more = prompts.errors[-1]
    assert title == "Cannot restore" and registry.url in text
    assert "Nothing was changed" in more
    assert seeder.tags("team/api") == ["v2"]
    assert Journal().entries()[0].restores == []


def test_history_model_passes_the_qt_model_tester(
    qtmodeltester, registry: LocalRegistry, seeder: Seeder
) -> None:
    seed_standard(seeder)
    delete_through_core(registry, [("app", "1.0")])
    model = HistoryModel()
    model.set_entries(Journal().entries())
    qtmodeltester.check(model, force_py=True)
    assert model.rowCount() == 1

"""The clean-up rules window: fields, saving with the profile, preview against
a real registry, filters, exports and Apply, checked through the Seeder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import QPersistentModelIndex, Qt
from pytestqt.qtbot import QtBot

from core.delete import Outcome
from core.journal import Journal
from core.rules import Rules, load_rules, rules_path
from core.verdicts import TagVerdict
from devtools.registry import LocalRegistry
from devtools.seed import Seeder
from gui.export import SaveAs
from gui.prompts import Prompts
from gui.rules_model import (
    TOTALS_HEADERS,
    VERDICT_HEADERS,
    TotalsModel,
    VerdictFilter,
    VerdictModel,
)
from gui.rules_window import ApplyReport, RulesWindow

pytest_plugins = ["tests.gui_fixtures"]

if TYPE_CHECKING:
    from tests.gui_fixtures import GuiDriver


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def small_set(seeder: Seeder) -> dict[str, str]:
    """``svc``: a (400 days), b (200), c + stable (100), d + latest (5);
    ``other/x``: old (400). Tag -> digest."""
    push = seeder.push_image
    images = {
        "a": push("svc", ["a"], created=ago(400)),
        "b": push("svc", ["b"], created=ago(200)),
        "c": push("svc", ["c", "stable"], created=ago(100)),
        "d": push("svc", ["d", "latest"], created=ago(5)),
        "old": push("other/x", ["old"], created=ago(400)),
    }
    return {tag: image.digest for tag, image in images.items()}


def verdicts(rules: RulesWindow) -> dict[tuple[str, str], str]:
    return {(v.repository, v.tag): v.verdict for v in rules.proxy.shown()}


def test_preview_shows_each_tags_verdict(
    registry: LocalRegistry, small_set: dict[str, str], gui: GuiDriver
) -> None:
    rules = gui.open_rules(gui.window(registry))
    assert not rules.apply_button.isEnabled()
    gui.fill_rules_form(rules)

    gui.preview_rules(rules)

    assert verdicts(rules) == {
        ("svc", "a"): "delete",
        ("svc", "b"): "delete",
        ("svc", "c"): "keep",
        ("svc", "stable"): "keep",
        ("svc", "d"): "keep",
        ("svc", "latest"): "keep",
    }
    totals = rules.totals_model
    assert [totals.index(0, c).data() for c in range(4)] == ["svc", "6", "4", "2"]
    assert "2 to delete (2 images)" in rules.summary.text()
    assert rules.apply_button.isEnabled()
    reasons = {v.tag: v.reason for v in rules.proxy.shown()}
    assert "stable" in reasons["c"] and reasons["a"]


def test_verdict_filter_text_filter_and_sorting(
    qtbot: QtBot, registry: LocalRegistry, small_set: dict[str, str], gui: GuiDriver
) -> None:
    rules = gui.previewed_rules(registry)

    rules.verdict_combo.setCurrentIndex(rules.verdict_combo.findData("delete"))
    assert sorted(verdicts(rules)) == [("svc", "a"), ("svc", "b")]
    rules.verdict_combo.setCurrentIndex(rules.verdict_combo.findData("keep"))
    qtbot.keyClicks(rules.filter_edit, "lat")
    assert list(verdicts(rules)) == [("svc", "latest")]
    rules.filter_edit.clear()
    rules.verdict_combo.setCurrentIndex(0)

    created = VERDICT_HEADERS.index("Created")
    rules.table.sortByColumn(created, Qt.SortOrder.AscendingOrder)
    assert [v.tag for v in rules.proxy.shown()][:2] == ["a", "b"]
    rules.table.sortByColumn(created, Qt.SortOrder.DescendingOrder)
    assert {v.tag for v in rules.proxy.shown()[:2]} == {"d", "latest"}


def test_apply_deletes_exactly_the_delete_rows(
    qtbot: QtBot,
    registry: LocalRegistry,
    seeder: Seeder,
    small_set: dict[str, str],
    gui: GuiDriver,
    prompts,
) -> None:
    rules = gui.previewed_rules(registry)
    to_delete = {v.digest for v in rules.proxy.shown() if v.verdict == "delete"}
    assert to_delete == {small_set["a"], small_set["b"]}

    with qtbot.waitSignal(rules.apply_finished, timeout=60_000) as done:
        rules.apply_button.click()
    report: ApplyReport = done.args[0]

    assert report.count(Outcome.DELETED) == 2 and len(report.results) == 2
    assert seeder.tags("svc") == ["c", "d", "latest", "stable"]
    assert seeder.tags("other/x") == ["old"]
    for tag, digest in small_set.items():
        assert seeder.manifest_exists("other/x" if tag == "old" else "svc", digest) == (
            digest not in to_delete
        )
    title, summary, details = prompts.infos[-1]
    assert title == "Clean-up finished" and summary.startswith("2 deleted")
    assert "svc@" in details and "garbage-collect" in details
    result_column = VERDICT_HEADERS.index("Result")
    shown = rules.proxy.shown()
    row = [v.tag for v in shown].index("a")
    assert rules.proxy.index(row, result_column).data().startswith("deleted")
    assert {(e.repository, e.outcome, e.profile) for e in Journal().entries()} == {
        ("svc", "deleted", "Test")
    }
    assert not rules.apply_button.isEnabled()  # preview again first


def test_shared_untag_keeps_the_image_for_its_kept_tag(
    qtbot: QtBot,
    registry: LocalRegistry,
    seeder: Seeder,
    gui: GuiDriver,
    prompts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = seeder.push_image("lib", ["x1", "release"], created=ago(400)).digest
    seeder.push_image("lib", ["y1"], created=ago(5))
    rules = gui.open_rules(gui.window(registry))
    rules.form.set_rules(
        Rules(keep_newest=1, older_than="90d", tags_exclude=("^release$",))
    )
    rules.form.shared_combo.setCurrentIndex(rules.form.shared_combo.findData("untag"))
    gui.preview_rules(rules)
    assert verdicts(rules) == {
        ("lib", "x1"): "untag",
        ("lib", "release"): "keep",
        ("lib", "y1"): "keep",
    }

    asked: list[str] = []

    def confirm(parent: object, title: str, text: str, action: str) -> bool:
        asked.append(text)
        return True

    monkeypatch.setattr(Prompts, "confirm", staticmethod(confirm))
    with qtbot.waitSignal(rules.apply_finished, timeout=60_000) as done:
        rules.apply_button.click()

    assert done.args[0].count(Outcome.UNTAGGED) == 1
    assert seeder.tags("lib") == ["release", "y1"]
    assert seeder.digest_of("lib", "release") == old
    assert seeder.manifest_exists("lib", old)
    assert prompts.infos[-1][1].startswith("0 deleted, 1 untagged")
    assert asked[0].startswith(
        "Remove 1 tag from 1 image that stay in 1 repository of Test?"
    )


def test_apply_asks_first_and_a_no_deletes_nothing(
    registry: LocalRegistry,
    seeder: Seeder,
    small_set: dict[str, str],
    gui: GuiDriver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    def confirm(parent: object, title: str, text: str, action: str) -> bool:
        asked.append(text)
        return False

    rules = gui.previewed_rules(registry)
    monkeypatch.setattr(Prompts, "confirm", staticmethod(confirm))
    rules.apply_button.click()

    assert asked and asked[0].startswith("Delete 2 images (2 tags) in 1 repository")
    assert "Nothing was deleted" in rules.summary.text()
    assert seeder.tags("svc") == ["a", "b", "c", "d", "latest", "stable"]
    assert Journal().entries() == []


def test_editing_a_rule_makes_the_preview_stale(
    registry: LocalRegistry, small_set: dict[str, str], gui: GuiDriver
) -> None:
    rules = gui.previewed_rules(registry)
    assert rules.apply_button.isEnabled()

    rules.form.keep_spin.setValue(3)

    assert not rules.apply_button.isEnabled()
    assert "Preview again" in rules.summary.text()


def test_bad_pattern_is_named_and_nothing_is_read(
    qtbot: QtBot, registry: LocalRegistry, gui: GuiDriver
) -> None:
    window = gui.window(registry)
    rules = gui.open_rules(window)
    qtbot.keyClicks(rules.form.protect, "v(1")

    rules.preview_button.click()

    assert "not a valid regular expression" in rules.form.message.text()
    assert rules.preview_button.isEnabled() and rules.verdict_model.rowCount() == 0
    rules.save_button.click()
    assert not rules_path(window.store.directory, window.store.profiles[0].id).exists()


def test_rules_are_saved_with_the_profile(
    qtbot: QtBot, registry: LocalRegistry, gui: GuiDriver
) -> None:
    window = gui.window(registry)
    rules = gui.open_rules(window)
    gui.fill_rules_form(rules)
    qtbot.keyClicks(rules.form.tags_include, r"^[a-z]$ ^stable$")
    rules.form.shared_combo.setCurrentIndex(rules.form.shared_combo.findData("untag"))

    rules.save_button.click()
    rules.close()

    path = rules_path(window.store.directory, window.store.profiles[0].id)
    expected = Rules(
        repos_exclude=("^other/",),
        keep_newest=1,
        older_than="90d",
        tags_include=(r"^[a-z]$", "^stable$"),
        protect=("^stable$",),
        shared="untag",
    )
    assert load_rules(path) == expected
    again = gui.open_rules(window)
    assert again.form.rules() == expected
    assert again.form.age_edit.text() == "90d" and again.form.keep_spin.value() == 1


def test_exports_write_the_rows_shown(
    qtbot: QtBot,
    registry: LocalRegistry,
    small_set: dict[str, str],
    gui: GuiDriver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = gui.previewed_rules(registry)
    rules.verdict_combo.setCurrentIndex(rules.verdict_combo.findData("delete"))
    targets = iter([tmp_path / "p.csv", tmp_path / "p.json"])
    monkeypatch.setattr(
        SaveAs, "path", classmethod(lambda cls, *args: str(next(targets)))
    )

    with qtbot.waitSignal(rules.exported):
        rules.csv_button.click()
    with qtbot.waitSignal(rules.exported):
        rules.json_button.click()

    lines = (tmp_path / "p.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("repo,tag,digest,verdict,reason")
    assert sorted(line.split(",")[1] for line in lines[1:]) == ["a", "b"]
    rows = json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))
    assert {(r["tag"], r["digest"], r["verdict"]) for r in rows} == {
        ("a", small_set["a"], "delete"),
        ("b", small_set["b"], "delete"),
    }


def test_rules_need_a_connected_profile(gui: GuiDriver, prompts) -> None:
    window = gui.window()
    window.rules_action.trigger()
    assert prompts.errors[-1][0] == "Not connected"


def test_rules_models_pass_the_qt_model_tester(
    qtmodeltester, registry: LocalRegistry, small_set: dict[str, str], gui: GuiDriver
) -> None:
    rules = gui.previewed_rules(registry)
    plan = rules.plan
    assert plan is not None

    verdict_model = VerdictModel()
    verdict_model.set_verdicts(list(plan.verdicts))
    qtmodeltester.check(verdict_model, force_py=True)
    proxy = VerdictFilter()
    proxy.setSourceModel(verdict_model)
    proxy.set_filter("delete", "")
    qtmodeltester.check(proxy, force_py=True)
    assert proxy.rowCount() == 2
    totals = TotalsModel()
    totals.set_totals(list(plan.totals))
    qtmodeltester.check(totals, force_py=True)
    assert totals.columnCount() == len(TOTALS_HEADERS)


def test_rules_window_is_opened_once_per_profile(
    registry: LocalRegistry, gui: GuiDriver
) -> None:
    window = gui.window(registry)
    first = gui.open_rules(window)
    assert gui.open_rules(window) is first
    first.close()
    assert gui.open_rules(window) is not first


def test_cancel_during_apply_stops_the_rest_and_reports_it(
    qtbot: QtBot, registry: LocalRegistry, seeder: Seeder, gui: GuiDriver, prompts
) -> None:
    digests = seeder.push_many("bulk", 150)
    rules = gui.open_rules(gui.window(registry))
    rules.form.set_rules(Rules(keep_newest=0))
    gui.preview_rules(rules)
    assert rules.plan is not None and len(rules.plan.items) == 150

    def cancel_on_first_result(results: list) -> None:
        if rules.cancel_button.isEnabled():
            assert rules.progress.maximum() == 150 and rules.progress.value() > 0
            assert "of 150" in rules.summary.text()
            rules.cancel_button.click()

    rules.apply_progressed.connect(cancel_on_first_result)
    with qtbot.waitSignal(rules.apply_finished, timeout=60_000) as done:
        rules.apply_button.click()
    report: ApplyReport = done.args[0]

    deleted = {r.item.digest for r in report.results if r.outcome is Outcome.DELETED}
    assert report.cancelled and 0 < len(deleted) < 150
    assert report.count(Outcome.CANCELLED) == 150 - len(deleted)
    remaining = set(seeder.tags("bulk"))
    assert remaining == {tag for tag, d in digests.items() if d not in deleted}
    assert "not started (cancelled)" in prompts.infos[-1][1]
    assert rules.progress.isHidden() and rules.preview_button.isEnabled()


def test_a_refused_catalog_reaches_the_preview_as_its_own_error(
    gui: GuiDriver, tmp_path: Path, prompts
) -> None:
    # The preview runs in the helper process: the registry's refusal must
    # come back as the same error, with its advice, not as a crash.
    from devtools.registry import start_registry

    acl = {"alice": {"pull", "push", "delete"}}
    with start_registry(tmp_path / "r", auth="token", token_acl=acl) as registry:
        with Seeder(registry) as seeder:
            seeder.push_image("app", ["1"])
        window = gui.window(registry)
        gui.qtbot.waitUntil(lambda: window.session is not None)
        rules = gui.open_rules(window)
        gui.fill_rules_form(rules)
        with gui.qtbot.waitSignal(rules.preview_finished, timeout=30_000) as done:
            rules.preview_button.click()

        assert done.args[0].error is not None
        title, summary, more = prompts.errors[-1]
        assert (title, summary) == ("No preview", "Nothing was deleted.")
        assert "refuses to list its repositories" in more
        assert rules.summary.text() == "No preview. Nothing was deleted."
        assert rules.plan is None and not rules.apply_button.isEnabled()
        assert seeder.tags("app") == ["1"]


def _verdict(tag: str, days: int) -> TagVerdict:
    created = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=days)
    return TagVerdict("svc", tag, f"sha256:{tag:0>64}", "", "keep", "", created, "", 1)


def test_the_verdict_model_sorts_itself_and_keeps_the_order_for_a_new_preview(
    qtbot: QtBot,
) -> None:
    model = VerdictModel()
    proxy = VerdictFilter()
    proxy.setSourceModel(model)
    model.set_verdicts([_verdict("b", 3), _verdict("c", 1), _verdict("a", 2)])
    created = VERDICT_HEADERS.index("Created")
    held = QPersistentModelIndex(proxy.index(0, 1))  # "a": rows sort by repo, tag
    assert held.data() == "a"

    proxy.sort(created, Qt.SortOrder.DescendingOrder)

    assert [v.tag for v in proxy.shown()] == ["b", "a", "c"]
    assert proxy.sortColumn() == -1  # the proxy never compares rows itself
    assert (held.row(), held.data()) == (1, "a")  # a selection follows its row
    model.set_verdicts([_verdict("x", 1), _verdict("y", 9)])
    assert [v.tag for v in proxy.shown()] == ["y", "x"]

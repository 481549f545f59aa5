"""The tag table model and its proxy, without a view and without a registry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QStyleOptionViewItem

from core import errors
from core.images import DOCKER_MANIFEST, OCI_INDEX, ImageDetails, ManifestHead
from gui.models import (
    SORT_ROLE,
    Column,
    MarkKind,
    RowMark,
    TagFilterProxy,
    TagTableModel,
)
from gui.tag_panel import TagPanel
from gui.tag_table import TagDelegate
from gui.tasks import GuiThreadCollector

pytest_plugins = ["tests.gui_fixtures"]

GIB = 1024**3


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def filled_model(
    sizes: dict[str, int | None], dates: dict[str, datetime]
) -> TagTableModel:
    """A model whose tags each have their own digest, size and date."""
    model = TagTableModel()
    tags = list(sizes)
    model.set_tags("team/app", tags)
    heads: dict = {}
    details: dict = {}
    for n, tag in enumerate(tags):
        heads[tag] = ManifestHead(digest(n), DOCKER_MANIFEST, 500)
        details[digest(n)] = ImageDetails(
            digest(n), DOCKER_MANIFEST, sizes[tag], dates.get(tag), ("linux/amd64",)
        )
    model.merge(heads, details)
    return model


def column_order(proxy: TagFilterProxy) -> list[str]:
    return [proxy.index(row, Column.TAG).data() for row in range(proxy.rowCount())]


def test_model_passes_the_qt_model_tester(qtmodeltester) -> None:
    model = TagTableModel()
    model.set_tags("app", ["a", "b", "c", "d"])
    qtmodeltester.check(model, force_py=True)
    model.merge(
        {
            "a": ManifestHead(digest(1), DOCKER_MANIFEST),
            "b": ManifestHead(digest(1), DOCKER_MANIFEST),
            "c": errors.ManifestNotFoundError("app:c does not exist."),
        },
        {digest(1): ImageDetails(digest(1), DOCKER_MANIFEST, 10, None)},
    )
    model.set_mark(["d"], RowMark(MarkKind.FAILED, "Not deleted: nope"))
    model.remove_tags(["b"])
    model.sort(Column.SIZE, Qt.SortOrder.DescendingOrder)
    qtmodeltester.check(model, force_py=True)
    assert model.tags == ["a", "c", "d"]


def test_proxy_passes_the_qt_model_tester(qtmodeltester) -> None:
    # One tester per model: it tracks a single change in flight, and a sort
    # of the proxy is a layout change of the source and then of the proxy.
    model = filled_model({"x": 3, "y": 1, "z": None}, {})
    proxy = TagFilterProxy()
    proxy.setSourceModel(model)
    qtmodeltester.check(proxy, force_py=True)
    proxy.sort(Column.SIZE)
    proxy.set_filter("[xy]", regex=True)
    assert column_order(proxy) == ["y", "x"]
    qtmodeltester.check(proxy, force_py=True)


def test_sizes_sort_as_64_bit_integers() -> None:
    sizes = {
        "small": 900,
        "three-gib": 3 * GIB,
        "int32-max": 2**31 - 1,
        "five-tib": 5 * 1024 * GIB,
        "four-gib-plus": 4 * GIB + 1,
        "unknown": None,
        "mib": 1024**2,
    }
    proxy = TagFilterProxy()
    proxy.setSourceModel(filled_model(sizes, {}))

    proxy.sort(Column.SIZE, Qt.SortOrder.AscendingOrder)
    known = sorted((t for t in sizes if sizes[t] is not None), key=lambda t: sizes[t])
    assert column_order(proxy) == [*known, "unknown"]
    proxy.sort(Column.SIZE, Qt.SortOrder.DescendingOrder)
    assert column_order(proxy) == [*known[::-1], "unknown"]
    assert proxy.index(0, Column.SIZE).data() == "5.0 TiB"
    assert proxy.index(0, Column.SIZE).data(SORT_ROLE) == 5 * 1024 * GIB


def test_dates_sort_chronologically_not_by_text() -> None:
    dates = {
        "old": datetime(1999, 12, 31, 23, 0, tzinfo=UTC),
        "new": datetime(2024, 2, 1, 12, 0, tzinfo=UTC),
        "mid": datetime(2010, 5, 5, 5, 5, tzinfo=UTC),
        "newest": datetime(2024, 11, 3, 8, 0, tzinfo=UTC),
    }
    proxy = TagFilterProxy()
    proxy.setSourceModel(filled_model(dict.fromkeys(dates, 1), dates))
    proxy.sort(Column.CREATED, Qt.SortOrder.AscendingOrder)
    assert column_order(proxy) == ["old", "mid", "new", "newest"]
    proxy.sort(Column.CREATED, Qt.SortOrder.DescendingOrder)
    assert column_order(proxy) == ["newest", "new", "mid", "old"]


def test_filter_by_text_and_by_regular_expression() -> None:
    tags = ["v1.0", "v1.1", "v10", "latest", "release-v1.1"]
    proxy = TagFilterProxy()
    proxy.setSourceModel(filled_model(dict.fromkeys(tags, 1), {}))
    proxy.sort(Column.TAG)

    assert proxy.set_filter("V1.", regex=False) is None
    assert column_order(proxy) == ["release-v1.1", "v1.0", "v1.1"]
    assert proxy.set_filter(r"^v1\.\d$", regex=True) is None
    assert column_order(proxy) == ["v1.0", "v1.1"]
    error = proxy.set_filter("v1(", regex=True)
    assert error and "parenthes" in error
    assert column_order(proxy) == ["v1.0", "v1.1"]
    assert proxy.set_filter("", regex=True) is None
    assert proxy.rowCount() == len(tags)


def test_shared_digests_show_in_each_row_and_follow_removals() -> None:
    model = TagTableModel()
    model.set_tags("app", ["1.1", "latest", "stable", "1.0"])
    shared = ManifestHead(digest(7), OCI_INDEX)
    model.merge(
        {t: shared for t in ("1.1", "latest", "stable")}
        | {"1.0": ManifestHead(digest(8), DOCKER_MANIFEST)},
        {
            digest(7): ImageDetails(
                digest(7), OCI_INDEX, 5, None, ("linux/amd64", "linux/arm64")
            )
        },
    )
    row = model.tags.index("latest")
    assert model.index(row, Column.SHARED).data() == "1.1, stable"
    assert model.index(row, Column.KIND).data() == "multi-platform"
    assert model.index(row, Column.PLATFORMS).data() == "linux/amd64, linux/arm64"
    assert model.index(row, Column.DIGEST).data(Qt.ItemDataRole.ToolTipRole) == digest(
        7
    )
    assert model.index(model.tags.index("1.0"), Column.SHARED).data() == ""

    model.remove_tags(["1.1"])
    assert model.tags == ["1.0", "latest", "stable"]
    assert model.index(1, Column.SHARED).data() == "stable"
    assert model.sharing("stable") == ["latest"]


def test_digest_counts_follow_moves_removals_and_late_heads() -> None:
    model = TagTableModel()
    model.set_tags("app", ["a", "b", "c", "d"])
    img = DOCKER_MANIFEST
    model.merge({}, {digest(3): ImageDetails(digest(3), img, 1, None)})
    assert model.digest_count() == (0, 0)
    model.merge(
        {"a": ManifestHead(digest(1), img), "b": ManifestHead(digest(1), img)}, {}
    )
    model.merge({"c": ManifestHead(digest(3), img)}, {})
    assert model.digest_count() == (1, 2)
    model.merge({}, {digest(1): errors.ServerError("no details")})
    assert model.digest_count() == (2, 2)
    model.merge({"c": ManifestHead(digest(2), img)}, {})  # the tag moved
    assert model.digest_count() == (1, 2)
    model.remove_tags(["a"])
    assert model.digest_count() == (1, 2)
    model.remove_tags(["b"])
    assert model.digest_count() == (0, 1)
    assert model.resolved_count() == 1


def test_known_heads_only_when_every_tag_resolved() -> None:
    model = TagTableModel()
    model.set_tags("app", ["a", "b"])
    head = ManifestHead(digest(1), DOCKER_MANIFEST)
    model.merge({"a": head}, {})
    assert model.known_heads() is None
    model.merge({"b": errors.ServerError("boom")}, {})
    assert model.known_heads() is None
    assert "Could not resolve: boom" in model.index(1, Column.STATUS).data()
    model.merge({"b": head}, {})
    assert model.known_heads() == {"a": head, "b": head}


def test_emitting_often_does_not_exhaust_true() -> None:
    # gui.compat: PySide6 6.12 drops a reference to True on every emit().
    import sys

    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        fired = Signal()

    emitter = Emitter()
    for _ in range(100_000):
        emitter.fired.emit()
    assert sys.getrefcount(True) > 1_000


@pytest.mark.parametrize(
    ("size", "text"),
    [(None, ""), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (3 * GIB, "3.0 GiB")],
)
def test_sizes_read_well(size: int | None, text: str) -> None:
    from gui.format import human_size

    assert human_size(size) == text


def test_the_delegate_paints_exactly_what_the_model_reports(qtbot) -> None:
    # The table paints through TagDelegate, which reads TagTableModel.painted
    # in one call; every cell must show what data() gives role by role.
    model = TagTableModel()
    model.set_tags("app", ["big", "index", "marked", "missing", "waiting", "alias"])
    model.merge(
        {
            "big": ManifestHead(digest(1), DOCKER_MANIFEST),
            "alias": ManifestHead(digest(1), DOCKER_MANIFEST),
            "index": ManifestHead(digest(2), OCI_INDEX),
            "marked": ManifestHead(digest(3), DOCKER_MANIFEST),
            "missing": errors.ManifestNotFoundError("app:missing does not exist."),
        },
        {
            digest(1): ImageDetails(
                digest(1), DOCKER_MANIFEST, 5 * GIB, datetime(2024, 1, 2, tzinfo=UTC)
            ),
            digest(2): ImageDetails(
                digest(2), OCI_INDEX, 10, None, ("linux/amd64", "linux/arm64")
            ),
            digest(3): errors.BlobNotFoundError("config blob is gone"),
        },
    )
    model.set_mark(["marked"], RowMark(MarkKind.FAILED, "Not deleted: refused"))
    panel = TagPanel(model)
    qtbot.addWidget(panel)
    panel.proxy.set_filter("i", regex=False)  # painted rows go through the filter
    delegate = panel.table.itemDelegate()
    assert isinstance(delegate, TagDelegate)
    proxy = panel.proxy
    assert column_order(proxy) == ["alias", "big", "index", "missing", "waiting"]

    checked = 0
    for row in range(proxy.rowCount()):
        for column in Column:
            index = proxy.index(row, column)
            option = QStyleOptionViewItem()
            option.initFrom(panel.table)
            default_text = option.palette.color(QPalette.ColorRole.Text)
            delegate.initStyleOption(option, index)

            assert option.text == index.data(), (row, column)
            alignment = index.data(Qt.ItemDataRole.TextAlignmentRole)
            if alignment is not None:
                assert int(option.displayAlignment) == int(alignment)
            brush = index.data(Qt.ItemDataRole.ForegroundRole)
            expected = default_text if brush is None else brush.color()
            assert option.palette.color(QPalette.ColorRole.Text) == expected
            checked += 1
    assert checked == 5 * len(Column)
    size_row = column_order(proxy).index("big")
    assert proxy.index(size_row, Column.SIZE).data() == "5.0 GiB"


def test_gui_thread_collector_freezes_start_up_objects_and_gives_them_back(
    qtbot,
) -> None:
    import gc

    collector = GuiThreadCollector(interval_ms=10)
    try:
        qtbot.waitUntil(lambda: gc.get_freeze_count() > 0)
        assert not gc.isenabled()
    finally:
        collector.stop()
    assert gc.get_freeze_count() == 0


def test_painted_cells_follow_the_rows_data(qtbot) -> None:
    model = TagTableModel()
    model.set_tags("app", ["a", "b"])
    panel = TagPanel(model)
    qtbot.addWidget(panel)
    delegate = panel.table.itemDelegate()

    def painted(tag: str, column: Column) -> str:
        option = QStyleOptionViewItem()
        delegate.initStyleOption(
            option, panel.proxy.index(model.tags.index(tag), column)
        )
        return option.text

    assert painted("a", Column.STATUS) == "resolving…"
    assert painted("a", Column.SHARED) == ""
    model.merge(
        {"a": ManifestHead(digest(1), DOCKER_MANIFEST)},
        {digest(1): ImageDetails(digest(1), DOCKER_MANIFEST, 2048, None)},
    )
    assert painted("a", Column.STATUS) == ""
    assert painted("a", Column.SIZE) == "2.0 KiB"
    model.merge({"b": ManifestHead(digest(1), DOCKER_MANIFEST)}, {})
    assert painted("a", Column.SHARED) == "b"  # a's row changed through b
    model.set_mark(["a"], RowMark(MarkKind.FAILED, "Not deleted: refused"))
    assert painted("a", Column.STATUS) == "Not deleted: refused"
    model.remove_tags(["b"])
    assert painted("a", Column.SHARED) == ""
    model.set_tags("app", ["a"])
    assert painted("a", Column.STATUS) == "resolving…"


def test_the_details_helper_stops_at_quit_and_starts_again_when_needed(
    qtbot,
) -> None:
    from gui import tasks

    first = tasks._DetailsProcess.shared()
    assert tasks._DetailsProcess.shared() is first  # one for the whole app
    qtbot.waitUntil(lambda: first._process.is_alive(), timeout=10_000)

    tasks.stop_details_helper()
    assert not first._process.is_alive()
    assert first._process.exitcode == 0  # it stopped when asked, not killed
    second = tasks._DetailsProcess.shared()
    assert second is not first
    qtbot.waitUntil(lambda: second.pid is not None, timeout=10_000)
    assert second.pid != first.pid

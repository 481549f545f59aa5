"""Try Regsweep on a throw-away registry: ``python -m devtools.demo``.

``python -m devtools.demo --screenshots docs/screenshots`` instead drives the
real window through a browse and a delete preview, saves PNGs of both (and of
the profile dialog after a connection test), and exits without deleting.

Starts a local ``docker-registry`` on 127.0.0.1 filled with sample images,
opens the window with a "Demo" profile pointed at it, and stops that registry
(by the PID this script started) when the window closes. Profiles, window
state, journal and log live in a temporary directory, so your own profiles
are never touched. Unlike the rest of devtools, this script imports the GUI.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from devtools.registry import start_registry
from devtools.seed import Seeder, seed_standard

log = logging.getLogger(__name__)


def seed_demo(seeder: Seeder) -> None:
    """The standard set plus repositories that show sorting and sharing."""
    seed_standard(seeder)
    push = seeder.push_image
    for number, (version, created, size) in enumerate(
        [
            ("2.0.0", "2023-09-12T10:00:00Z", 18_000),
            ("2.1.0", "2023-12-01T15:30:00Z", 21_000),
            ("2.1.1", "2024-01-20T08:45:00Z", 21_500),
            ("2.2.0", "2024-04-02T11:10:00Z", 26_000),
            ("2.3.0", "2024-07-19T16:20:00Z", 31_000),
        ]
    ):
        push(
            "web/frontend",
            [version],
            created=created,
            layer_sizes=(size, 4096),
            salt=f"frontend-{number}",
        )
    newest = push(
        "web/frontend",
        ["2.4.0"],
        created="2024-10-08T09:00:00Z",
        layer_sizes=(33_000, 4096),
        salt="frontend-newest",
    )
    for alias in ("latest", "stable", "prod"):
        seeder.add_tag("web/frontend", alias, newest.digest)
    seeder.push_index(
        "tools/ci-runner",
        ["1.4", "latest"],
        kind="oci",
        platforms=(("linux", "amd64"), ("linux", "arm64"), ("linux", "ppc64le")),
        created="2024-08-30T13:00:00Z",
        salt="ci-runner",
    )
    for day in range(1, 29):
        push(
            "data/etl",
            [f"nightly-2024-09-{day:02d}"],
            created=f"2024-09-{day:02d}T02:00:00Z",
            layer_sizes=(8_000 + day * 300,),
            salt=f"etl-{day}",
        )
    seeder.push_many("load/test", 400, prefix="build-")


def main(argv: list[str]) -> int:
    shots = None
    if "--screenshots" in argv:
        at = argv.index("--screenshots")
        shots = Path(argv[at + 1]).resolve()
        argv = argv[:at] + argv[at + 2 :]
    workdir = Path(tempfile.mkdtemp(prefix="regsweep-demo-"))
    os.environ["REGSWEEP_CONFIG_DIR"] = str(workdir / "config")
    os.environ["REGSWEEP_DATA_DIR"] = str(workdir / "data")
    os.environ["REGSWEEP_LOG_DIR"] = str(workdir / "logs")
    print(f"Starting a demo registry in {workdir} …", flush=True)
    registry = start_registry(workdir / "registry")
    try:
        with Seeder(registry) as seeder:
            seed_demo(seeder)
        print(f"Demo registry at {registry.url} (PID {registry.pid})", flush=True)
        return _run_window(registry.url, argv, shots)
    finally:
        registry.close()
        shutil.rmtree(workdir, ignore_errors=True)
        print("Demo registry stopped.", flush=True)


def _run_window(url: str, argv: list[str], shots: Path | None) -> int:
    # Imported here, after REGSWEEP_CONFIG_DIR points at the demo directory.
    from core.profiles import Profile, ProfileStore
    from gui.app import run
    from gui.state import WindowState

    profile = ProfileStore().add(Profile("Demo", url), None)
    WindowState(profile_id=profile.id, repository="web/frontend").save()
    if shots is None:
        return run(argv)
    return _take_screenshots(argv, shots)


# --- screenshots -------------------------------------------------------------------

Step = Callable[[], bool]


def _take_screenshots(argv: list[str], target: Path) -> int:
    """Drive the real window through a short script and save what it shows."""
    from PySide6.QtCore import QTimer

    from gui.app import create_app, open_window

    app = create_app(argv)
    window = open_window()
    if window is None:
        return 1
    target.mkdir(parents=True, exist_ok=True)
    steps = _screenshot_script(window, target)
    waiting: list[Step] = [lambda: True]

    def tick() -> None:
        if waiting[0]():
            try:
                waiting[0] = next(steps)
            except StopIteration:
                window.close()
                app.quit()

    timer = QTimer(app)
    timer.timeout.connect(tick)
    timer.start(50)
    QTimer.singleShot(60_000, app.quit)  # never hang a CI job
    return app.exec()


def _screenshot_script(window: Any, target: Path) -> Iterator[Step]:
    """Each yielded function is polled until it returns True."""
    model, panel = window.tag_model, window.tag_panel
    yield lambda: model.repository == "web/frontend" and model.digest_count()[0] == 6
    panel.select_tags(["2.3.0", "2.4.0"])
    panel.table.setFocus()
    yield _after(300)
    _save(window, target / "main-window.png")

    opened: list[Any] = []
    window.deletion.preview_opened.connect(opened.append)
    panel.delete_action.trigger()
    yield lambda: bool(opened)
    yield _after(300)
    _save(opened[0], target / "delete-preview.png")
    opened[0].reject()

    dialogs: list[Any] = []
    window.profile_dialog_opened.connect(dialogs.append)
    window.edit_profile_action.trigger()
    yield lambda: bool(dialogs)
    dialogs[0].test_button.click()
    yield lambda: "Deletion:" in dialogs[0].report_label.text()
    yield _after(300)
    _save(dialogs[0], target / "profile-dialog.png")
    dialogs[0].reject()


def _after(milliseconds: int) -> Step:
    deadline = time.monotonic() + milliseconds / 1000
    return lambda: time.monotonic() >= deadline


def _save(widget: Any, path: Path) -> None:
    widget.grab().save(str(path))
    print(f"saved {path}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Regsweep: with a subcommand, the command line; without one, the window."""

from __future__ import annotations

import sys


def cli_entry(argv: list[str] | None = None) -> int:
    from core.cli import main

    return main(argv)


def gui_entry(argv: list[str] | None = None) -> int:
    from gui.app import run

    return run(sys.argv if argv is None else argv)


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        return cli_entry(argv[1:])
    return gui_entry(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

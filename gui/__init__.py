"""Regsweep GUI: PySide6 windows, dialogs and models over core/."""

from gui.compat import guard_bool_refcounts

guard_bool_refcounts()

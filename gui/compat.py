"""Work-arounds for defects in the Qt bindings, applied once when gui is imported.

PySide6 6.12 on Python 3.11: ``SignalInstance.emit()`` and ``disconnect()``
return ``True`` without taking a reference to it, so every call from Python
takes one reference away from the ``True`` singleton. After a few hundred
emits its count reaches zero and the interpreter aborts with "bool_dealloc:
deallocating True or False". Python 3.12 made ``True`` immortal, which hides
the defect. Where it is detected, ``True`` and ``False`` get a reserve of
references large enough for any session (2**40 emits); an object that is
never freed loses nothing by holding extra references.
"""

from __future__ import annotations

import ctypes
import logging
import sys

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

_RESERVE = 1 << 40
_PROBE_EMITS = 8


class _Probe(QObject):
    fired = Signal()


def guard_bool_refcounts() -> bool:
    """Detect the lost references on ``emit()``; add the reserve if they are
    lost. Returns whether the work-around was needed."""
    if sys.version_info >= (3, 12):
        return False
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(_PROBE_EMITS):
        probe.fired.emit()
    lost = before - sys.getrefcount(True)
    if lost <= 0:
        return False
    for singleton in (True, False):
        # ob_refcnt is the first field of every CPython object.
        ctypes.c_ssize_t.from_address(id(singleton)).value += _RESERVE
    log.debug("Qt bindings drop a reference to True per emit(); reserve added")
    return True

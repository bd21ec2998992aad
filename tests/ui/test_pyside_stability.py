"""Regression for the PySide6 6.12.0 / Python 3.11 crash (stack-notes: none_dealloc).

Each ``Signal.emit()`` and each Python override of a Qt virtual returning None leaked one
reference to None/True there, and a busy window died within seconds. The load runs in a
child process so a crash is reported as a failure instead of killing the test session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import PySide6

LOAD = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtGui import QPainter
    from PySide6.QtWidgets import QApplication, QWidget

    class Emitter(QObject):
        sig_value = Signal(object)
        sig_flag = Signal(bool)

    class Painted(QWidget):
        paints = 0

        def paintEvent(self, event):  # returns None on purpose: that was the leak
            painter = QPainter(self)
            painter.drawLine(0, 0, self.paints % 100, 50)
            painter.end()
            Painted.paints += 1

    app = QApplication(sys.argv)
    emitter = Emitter()
    received = []
    emitter.sig_value.connect(lambda value: received.append(value))
    emitter.sig_flag.connect(lambda flag: None)
    for i in range(100_000):
        emitter.sig_value.emit(None)
        emitter.sig_flag.emit(True)
    widget = Painted()
    widget.resize(200, 100)
    for _ in range(3_000):
        widget.grab()  # renders through paintEvent even without a screen
    print(len(received), Painted.paints, sys.getrefcount(None) > 0)
    """
)


def test_many_signals_and_repaints_do_not_crash() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", LOAD], capture_output=True, text=True, env=env, timeout=90
    )
    assert done.returncode == 0, (
        f"PySide6 {PySide6.__version__} crashed (exit {done.returncode}):\n{done.stderr[-2000:]}"
    )
    emitted, paints, _ = done.stdout.split()
    assert int(emitted) == 100_000
    assert int(paints) >= 3_000

"""A dedicated hub process tunes the cyclic garbage collector; library use leaves it alone."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

from console.hub.server import SERVING_GC_THRESHOLDS


def test_serving_freezes_start_up_objects_and_raises_thresholds() -> None:
    code = (
        "import gc, json; from console.hub.server import tune_gc_for_serving;"
        "before = gc.get_freeze_count(); tune_gc_for_serving();"
        "print(json.dumps([before, gc.get_freeze_count(), gc.get_threshold()]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    before, after, thresholds = json.loads(out.stdout)
    assert before == 0
    assert after > 10_000  # the imported modules and their objects
    assert tuple(thresholds) == SERVING_GC_THRESHOLDS


def test_importing_the_hub_does_not_touch_the_collector() -> None:
    assert gc.get_threshold() != SERVING_GC_THRESHOLDS

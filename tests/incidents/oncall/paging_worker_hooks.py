"""Loaded by the real worker in the paging crash test: hang on the first firing of a step."""

import os
import time
from pathlib import Path

from incidents.oncall import paging
from portal.models import Timer
from portal.timers import timer_handler, timer_queue

_fire = paging.fire_escalation_step


@timer_handler(paging.STEP_KIND, queue=timer_queue(paging.STEP_KIND))
def hang_on_first_attempt(timer: Timer) -> str:
    """Leave a mark and hang on a step's first attempt (the test kills the worker then)."""
    marker_dir = os.environ.get("FIREBREAK_TEST_MARKER_DIR")
    if marker_dir and timer.attempts == 1:
        Path(marker_dir, "claimed").write_text(timer.key)
        time.sleep(120)
    return _fire(timer)

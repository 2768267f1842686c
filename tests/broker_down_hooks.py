"""Loaded by the real worker in the broker-down crash test (`--include`): die mid-engagement.

On the first attempt at the `oncall.engage` subscriber's timer, the engagement runs (its pages
and their delivery timers are written, uncommitted, in the timer's transaction), then the
handler leaves a mark and hangs: the test kills the worker there, so the claim is held and none
of the work is committed. Later attempts run normally.
"""

import os
import time
from pathlib import Path

from portal import events
from portal.models import Timer
from portal.timers import timer_handler, timer_queue

ENGAGE_KIND = events.DURABLE_PREFIX + "oncall.engage"
MARKER = "engaging"


@timer_handler(ENGAGE_KIND, queue=timer_queue(ENGAGE_KIND))
def engage_then_hang_on_first_attempt(timer: Timer) -> str:
    outcome = events._run_durable(timer)
    marker_dir = os.environ.get("FIREBREAK_TEST_MARKER_DIR")
    if marker_dir and timer.attempts == 1:
        Path(marker_dir, MARKER).write_text(f"{timer.key}\n{outcome}")
        time.sleep(120)
    return outcome

"""Timer kinds used by the real-worker timer tests (imported by the test and by the worker)."""

import time
from pathlib import Path

from django.contrib.auth.models import Group

from portal.models import Timer
from portal.timers import timer_handler


@timer_handler("test.crash_on_first_attempt")
def crash_on_first_attempt(timer: Timer) -> str:
    """Leave a mark and hang on the first attempt (the test kills the worker then)."""
    if timer.attempts == 1:
        Path(timer.payload["marker"]).write_text("claimed")
        time.sleep(120)
    # The effect: a row written in the firing transaction; a second firing would fail on the
    # unique name or show as a second row.
    Group.objects.create(name=f"effect of {timer.key}")
    return "delivered"

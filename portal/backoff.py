"""Exponential backoff: how long to wait before trying a failed send again.

The wait doubles with every failed attempt: `base` after the first, twice that after the
second, and so on, up to `cap`. With `jitter`, each wait is drawn between half of it and all of
it, so senders that failed together do not all come back at the same instant.
"""

import random
from datetime import timedelta


def backoff_delay(
    attempt: int,
    *,
    base: timedelta,
    cap: timedelta | None = None,
    jitter: bool = False,
) -> timedelta:
    """Return the wait after failed attempt number `attempt` (1 for the first): base·2^(attempt-1).

    `cap` bounds the wait (None: no bound); `jitter` draws it from [wait/2, wait].
    """
    if attempt < 1:
        raise ValueError(f"Attempts count from 1, not {attempt}.")
    try:
        delay = base * 2 ** (attempt - 1)
    except OverflowError:
        delay = timedelta.max
    if cap is not None:
        delay = min(delay, cap)
    if jitter:
        delay = delay * random.uniform(0.5, 1.0)
    return delay

"""The timer kind the benchmark schedules; its handler writes one effect row per firing.

Imported by the benchmark and, through `celery worker --include bench.timer_effect`, by the
worker that fires the timers. The row is written in the transaction that marks the timer done,
so the rows count the firings that were recorded: exactly one per timer is the guarantee.
"""

from django.db import connection

from portal.models import Timer
from portal.timers import timer_handler

KIND = "bench.effect"
EFFECT_TABLE = "bench_timer_effect"
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {EFFECT_TABLE} "
    "(id bigserial PRIMARY KEY, timer_id bigint NOT NULL, fired_at timestamptz NOT NULL)"
)
INSERT_EFFECT = f"INSERT INTO {EFFECT_TABLE} (timer_id, fired_at) VALUES (%s, clock_timestamp())"  # noqa: S608 - constant table name


@timer_handler(KIND)
def record_effect(timer: Timer) -> str:
    """Record that the timer fired, with the database's clock."""
    with connection.cursor() as cursor:
        cursor.execute(INSERT_EFFECT, [timer.pk])
    return "effect recorded"

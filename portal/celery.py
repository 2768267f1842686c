"""The Celery app: queues, routes (in settings) and the one retry policy every task shares."""

import importlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from celery import Celery
from kombu import Queue
from kombu.transport import redis as kombu_redis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("firebreak")
app.config_from_object("django.conf:settings", namespace="CELERY")
# paging: engagement, escalation, page deliveries, update reminders (their own worker process);
# default: everything else; jobs: runbook jobs. Timers name theirs per kind (portal.timers).
QUEUES = ("paging", "default", "jobs")
app.conf.task_queues = [Queue(name) for name in QUEUES]
app.autodiscover_tasks()

F = TypeVar("F", bound=Callable[..., Any])


class RedisChannel(kombu_redis.Channel):  # type: ignore[misc]
    """kombu's Redis channel, failing like a lost connection once its connection is closed.

    When the broker goes away, the worker closes the connection it lost, which detaches the
    transport from its channels. A task still running then (every task is late-acked) is
    acknowledged on its old channel when it ends, and closing the old channel hands unacked
    messages back: both reach for connection parameters the detached transport no longer has
    and raised AttributeError ("'NoneType' object has no attribute 'hostname'"), on which the
    worker exits. As a connection error they are what they are: work for a connection that is
    gone, logged and skipped by kombu while the worker reconnects. (The message itself is
    redelivered after the visibility timeout if Redis kept it; the task's timer covers it if not.)
    """

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None:
            raise redis.exceptions.ConnectionError("the broker connection was closed")
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)
        return params


class RedisTransport(kombu_redis.Transport):  # type: ignore[misc]
    """kombu's Redis transport with RedisChannel (CELERY_BROKER_TRANSPORT for redis:// URLs)."""

    Channel = RedisChannel


# Errors worth retrying: the database, the broker or a remote API had a passing fault.
RETRYABLE: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, OSError)


def firebreak_task(*, max_retries: int = 5, **options: Any) -> Callable[[F], Any]:
    """Declare a task with the shared retry policy: exponential backoff with jitter, late ack.

    Queues come from CELERY_TASK_ROUTES in settings, by task module.
    """

    def decorator(func: F) -> Any:
        return app.task(
            autoretry_for=RETRYABLE,
            retry_backoff=True,
            retry_backoff_max=300,
            retry_jitter=True,
            max_retries=max_retries,
            acks_late=True,
            **options,
        )(func)

    return decorator


logger = logging.getLogger(__name__)


# After a failed send, wake-ups are not tried for this long: the sweep covers them meanwhile,
# and requests don't each wait out the broker's connection retries.
BROKER_BACKOFF_SECONDS = 5.0
_broker_down_until = 0.0


def enqueue(name: str, *args: Any, **options: Any) -> bool:
    """Send the task named `name` (its dotted path) as a wake-up; False if it was not sent.

    Services name the task rather than import it: tasks import services, never the other way
    round. Callers use it only for work already stored as a row that a timer also covers, so a
    message that could not be sent is logged and left to that timer; after a failure, sends
    are skipped for a few seconds rather than each waiting for a broker that is down.
    """
    global _broker_down_until
    if time.monotonic() < _broker_down_until and not app.conf.task_always_eager:
        return False
    module = name.rpartition(".")[0]
    if name not in app.tasks:
        importlib.import_module(module)
    try:
        app.tasks[name].apply_async(args, **options)
    except Exception:  # kombu's OperationalError, a timeout, a refused connection…
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning("broker unavailable: %s not sent; its timer covers it", name, exc_info=True)
        return False
    return True

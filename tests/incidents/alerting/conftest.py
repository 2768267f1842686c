import copy
import json
from pathlib import Path

import pytest
from django.urls import reverse

from incidents.alerting.models import AlertSource, RoutingRule

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> dict:
    """Return a fresh copy of one of the real payloads in samples/."""
    return copy.deepcopy(json.loads((SAMPLES / name).read_text()))


def make_source(kind: str, name: str | None = None, **fields) -> tuple[AlertSource, str]:
    source = AlertSource(name=name or f"{kind} source", kind=kind, **fields)
    secret = source.issue_secret()
    source.save()
    return source, secret


@pytest.fixture
def am_source(db):
    return make_source(AlertSource.Kind.ALERTMANAGER, "prod-alertmanager")


@pytest.fixture
def payments_rule(payments):
    return RoutingRule.objects.create(
        position=10, name="Payments", match_labels={"service": "payments"}, service=payments
    )


@pytest.fixture
def post_hook(client):
    """POST JSON (or raw bytes) to a hook with a bearer secret; returns the response."""

    def post(url: str, data, secret: str | None = None, **headers):
        body = data if isinstance(data, bytes | str) else json.dumps(data)
        if secret is not None:
            headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {secret}")
        return client.post(url, data=body, content_type="application/json", **headers)

    return post


def hook_url(kind: str, source: AlertSource | None = None) -> str:
    if kind == "pagerduty":
        return reverse("hooks:pagerduty")
    return reverse(f"hooks:{kind}", kwargs={"source_id": source.pk})


@pytest.fixture
def send_am(post_hook, am_source):
    """Deliver an Alertmanager payload from the production source."""
    source, secret = am_source

    def send(payload):
        response = post_hook(hook_url("alertmanager", source), payload, secret)
        assert response.status_code == 200, response.content
        return response.json()

    return send


def firing(fingerprint="440d54076bcd8569", starts_at="2026-11-27T09:21:14.639674242Z", **kw):
    """The firing sample, with one alert changed as asked."""
    payload = sample("alertmanager-v4-firing.json")
    alert = payload["alerts"][0]
    alert["fingerprint"] = fingerprint
    alert["startsAt"] = starts_at
    for key in ("labels", "annotations"):
        alert[key].update(kw.pop(key, {}))
    payload.update(kw)
    return payload


def resolved(fingerprint="440d54076bcd8569", starts_at="2026-11-27T09:21:14.639674242Z", **kw):
    """The resolved sample, with one alert changed as asked."""
    payload = sample("alertmanager-v4-resolved.json")
    alert = payload["alerts"][0]
    alert["fingerprint"] = fingerprint
    alert["startsAt"] = starts_at
    alert.update(kw.pop("alert", {}))
    payload.update(kw)
    return payload


def padded(size: int) -> bytes:
    """A valid firing payload of exactly `size` bytes."""
    payload = firing()
    payload["alerts"][0]["annotations"]["padding"] = ""
    base = len(json.dumps(payload).encode())
    payload["alerts"][0]["annotations"]["padding"] = "x" * (size - base)
    body = json.dumps(payload).encode()
    assert len(body) == size
    return body


@pytest.fixture
def send_check(post_hook):
    """Send a generic JSON alert: each dedup key is a sender group of its own.

    `send_check("disk-1")` fires it (a P3 for Payments API unless told otherwise),
    `send_check("disk-1", resolved=True)` resolves it.
    """
    source, secret = make_source(AlertSource.Kind.GENERIC, "checks")

    def send(
        key: str,
        *,
        severity: str = "warning",
        service: str = "payments-api",
        labels: dict | None = None,
        resolved: bool = False,
        title: str = "",
    ):
        payload = {
            "title": title or f"{key} failing",
            "severity": severity,
            "service": service,
            "dedup_key": key,
        }
        if labels:
            payload["labels"] = labels
        if resolved:
            payload["status"] = "resolved"
        response = post_hook(hook_url("generic", source), payload, secret)
        assert response.status_code == 202, response.content
        return response.json()

    return send


@pytest.fixture
def grouped_events(monkeypatch):
    """Record every AlertsGrouped published (and publish it as usual)."""
    from incidents.alerting.events import AlertsGrouped
    from portal import events

    seen: list[AlertsGrouped] = []
    real = events.publish

    def publish(event):
        if isinstance(event, AlertsGrouped):
            seen.append(event)
        real(event)

    monkeypatch.setattr(events, "publish", publish)
    return seen


@pytest.fixture
def clock(monkeypatch):
    """Move "now" (every caller of django.utils.timezone.now) and fire the timers due then."""
    from datetime import datetime, timedelta

    from django.utils import timezone

    from portal import timers

    class Clock:
        now = timezone.now()

        def at(self, moment: datetime) -> datetime:
            self.now = moment
            monkeypatch.setattr(timezone, "now", lambda: moment)
            return moment

        def advance(self, delta: timedelta) -> datetime:
            return self.at(self.now + delta)

        def sweep(self) -> int:
            fired = 0
            while count := timers.timers_sweep():
                fired += count
            return fired

    the_clock = Clock()
    the_clock.at(timezone.now())
    return the_clock

"""The alert formats Firebreak accepts, parsed into plain records before anything is stored.

Every parser names the offending field the way a sender's engineer reads it
(`alerts[0].fingerprint`, `payload.severity`) and collects all problems, so one 400 says everything
that is wrong. Unknown extra fields are accepted and ignored.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from portal.errors import InvalidInputError
from portal.input_guard import text_problem

ALERTMANAGER_VERSIONS = {"4": "Alertmanager", "1": "Grafana"}
PAGERDUTY_ACTIONS = ("trigger", "acknowledge", "resolve")
PAGERDUTY_SEVERITIES = ("critical", "error", "warning", "info")
ALERT_STATUSES = ("firing", "resolved")
MAX_KEY_LENGTH = 255
MAX_SUMMARY_LENGTH = 1024
MAX_DEPTH = 32

# Digits beyond microseconds (Alertmanager sends nanoseconds) are dropped before parsing.
_FRACTION = re.compile(r"(\.\d{6})\d+")


class PayloadInvalid(InvalidInputError):
    """The payload is malformed; `errors` lists every (field, problem), the first is `field`."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        first_field, first_problem = errors[0]
        super().__init__(f"{first_field}: {first_problem}", field=first_field)
        self.errors = errors

    def messages(self) -> list[str]:
        """Return one 'field: problem' line per error."""
        return [f"{name}: {problem}" for name, problem in self.errors]


def parse_timestamp(value: str) -> datetime | None:
    """Parse an RFC 3339 time (nanoseconds allowed); return None for Go's zero time.

    Raises ValueError for anything else. A time without an offset is read as UTC.
    """
    text = _FRACTION.sub(r"\1", value.strip())  # nanoseconds → microseconds
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.year <= 1:
        return None
    if parsed.year >= 9999:
        # Rendering such a time in a zone east of UTC overflows; no alert lasts that long.
        raise ValueError("out of range")
    return parsed.astimezone(UTC)


class _Checker:
    """Collects (field, problem) pairs while reading a JSON document."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def fail(self, name: str, problem: str) -> None:
        self.errors.append((name, problem))

    def done(self) -> None:
        if self.errors:
            raise PayloadInvalid(self.errors)

    def obj(self, data: dict[str, Any], key: str, name: str, *, required: bool) -> dict[str, Any]:
        value = data.get(key)
        if value is None:
            if required:
                self.fail(name, "is required (an object).")
            return {}
        if not isinstance(value, dict):
            self.fail(name, "must be an object.")
            return {}
        return value

    def labels(
        self, data: dict[str, Any], key: str, name: str, *, required: bool
    ) -> dict[str, str]:
        value = self.obj(data, key, name, required=required)
        for label, item in value.items():
            if not isinstance(item, str):
                self.fail(f"{name}.{label}", "must be a string.")
        return {k: v for k, v in value.items() if isinstance(v, str)}

    def text(
        self,
        data: dict[str, Any],
        key: str,
        name: str,
        *,
        required: bool,
        max_length: int | None = None,
        choices: tuple[str, ...] | None = None,
    ) -> str:
        value = data.get(key)
        if value is None or (required and isinstance(value, str) and not value.strip()):
            if required:
                self.fail(name, "is required.")
            return ""
        if not isinstance(value, str):
            self.fail(name, "must be a string.")
            return ""
        if max_length is not None and len(value) > max_length:
            self.fail(name, f"is longer than {max_length} characters.")
        if choices is not None and value not in choices:
            self.fail(name, f"must be one of {', '.join(choices)}, not {value!r}.")
        return value

    def timestamp(
        self, data: dict[str, Any], key: str, name: str, *, required: bool
    ) -> datetime | None:
        value = data.get(key)
        if value is None or value == "":
            if required:
                self.fail(name, "is required (an RFC 3339 time).")
            return None
        if not isinstance(value, str):
            self.fail(name, "must be an RFC 3339 time string.")
            return None
        try:
            return parse_timestamp(value)
        except ValueError:
            self.fail(name, f"is not an RFC 3339 time: {value[:40]!r}.")
            return None


def _root(data: object, checker: _Checker) -> dict[str, Any]:
    if not isinstance(data, dict):
        checker.fail("body", "must be a JSON object.")
        checker.done()
    assert isinstance(data, dict)
    _check_storable(data, checker)
    return data


def _check_storable(data: dict[str, Any], checker: _Checker) -> None:
    """Refuse text no database can store, anywhere in the payload (keys too): a NUL character,
    which PostgreSQL refuses, or a lone surrogate, which is no UTF-8. Also a payload nested deeper
    than any sender's (its details are stored as JSON)."""
    stack: list[tuple[object, str, int]] = [(value, key, 1) for key, value in data.items()]
    stack.extend((key, f"{key} (a key)", 0) for key in data)
    while stack:
        item, name, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                checker.fail(name, problem)
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                checker.fail(name, f"nests deeper than {MAX_DEPTH} levels.")
                continue
            if isinstance(item, dict):
                for key, value in item.items():
                    stack.append((key, f"{name}.{key} (a key)", depth))
                    stack.append((value, f"{name}.{key}", depth + 1))
            else:
                stack.extend((value, f"{name}[{i}]", depth + 1) for i, value in enumerate(item))
    checker.done()


def _http_url(value: str) -> str:
    """Keep only http(s) links: a sender's `javascript:` URL must never become a link."""
    value = value.strip()
    return value if re.match(r"https?://", value, re.IGNORECASE) and len(value) <= 2000 else ""


# --- Alertmanager v4 and Grafana v1 -------------------------------------------------------------


@dataclass(frozen=True)
class AlertmanagerAlert:
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    fingerprint: str
    dashboard_url: str = ""
    panel_url: str = ""
    silence_url: str = ""
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "") or "Alert"

    @property
    def summary(self) -> str:
        for key in ("summary", "description", "message"):
            if self.annotations.get(key):
                return self.annotations[key]
        return ""


@dataclass(frozen=True)
class AlertmanagerNotification:
    version: str
    group_key: str
    status: str
    receiver: str
    external_url: str
    truncated_alerts: int
    common_labels: dict[str, str]
    alerts: list[AlertmanagerAlert]

    @property
    def sender(self) -> str:
        return ALERTMANAGER_VERSIONS[self.version]


def parse_alertmanager(data: object) -> AlertmanagerNotification:
    """Validate an Alertmanager v4 (or Grafana v1) webhook notification."""
    check = _Checker()
    root = _root(data, check)
    version = root.get("version")
    if version is None:
        check.fail("version", 'is required ("4" for Alertmanager, "1" for Grafana).')
    elif version not in ALERTMANAGER_VERSIONS:
        check.fail("version", f'must be "4" (Alertmanager) or "1" (Grafana), not {version!r}.')
    group_key = check.text(root, "groupKey", "groupKey", required=True)
    status = check.text(root, "status", "status", required=True, choices=ALERT_STATUSES)
    receiver = check.text(root, "receiver", "receiver", required=False)
    external_url = check.text(root, "externalURL", "externalURL", required=False)
    truncated = root.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        check.fail("truncatedAlerts", "must be a whole number.")
        truncated = 0
    common_labels = check.labels(root, "commonLabels", "commonLabels", required=False)
    raw_alerts = root.get("alerts")
    alerts: list[AlertmanagerAlert] = []
    if raw_alerts is None:
        check.fail("alerts", "is required (a list).")
        raw_alerts = []
    elif not isinstance(raw_alerts, list):
        check.fail("alerts", "must be a list.")
        raw_alerts = []
    for index, raw in enumerate(raw_alerts):
        name = f"alerts[{index}]"
        if not isinstance(raw, dict):
            check.fail(name, "must be an object.")
            continue
        alert_status = check.text(
            raw, "status", f"{name}.status", required=True, choices=ALERT_STATUSES
        )
        labels = check.labels(raw, "labels", f"{name}.labels", required=True)
        annotations = check.labels(raw, "annotations", f"{name}.annotations", required=False)
        starts_at = check.timestamp(raw, "startsAt", f"{name}.startsAt", required=True)
        if raw.get("startsAt") and starts_at is None and not _failed(check, f"{name}.startsAt"):
            check.fail(f"{name}.startsAt", "is Go's zero time; an alert must have started.")
        ends_at = check.timestamp(raw, "endsAt", f"{name}.endsAt", required=False)
        fingerprint = check.text(
            raw, "fingerprint", f"{name}.fingerprint", required=True, max_length=MAX_KEY_LENGTH
        )
        generator_url = check.text(raw, "generatorURL", f"{name}.generatorURL", required=False)
        dashboard_url = check.text(raw, "dashboardURL", f"{name}.dashboardURL", required=False)
        panel_url = check.text(raw, "panelURL", f"{name}.panelURL", required=False)
        silence_url = check.text(raw, "silenceURL", f"{name}.silenceURL", required=False)
        values: dict[str, Any] = {}
        if isinstance(raw.get("values"), dict):
            values["values"] = raw["values"]
        if isinstance(raw.get("valueString"), str) and raw["valueString"]:
            values["valueString"] = raw["valueString"]
        if starts_at is None or check.errors:
            continue
        alerts.append(
            AlertmanagerAlert(
                status=alert_status,
                labels=labels,
                annotations=annotations,
                starts_at=starts_at,
                # Go's zero time (and any end of a firing alert) means "still firing".
                ends_at=ends_at if alert_status == "resolved" else None,
                generator_url=_http_url(generator_url),
                fingerprint=fingerprint,
                dashboard_url=_http_url(dashboard_url),
                panel_url=_http_url(panel_url),
                silence_url=_http_url(silence_url),
                values=values,
            )
        )
    check.done()
    return AlertmanagerNotification(
        version=str(version),
        group_key=group_key,
        status=status,
        receiver=receiver,
        external_url=external_url,
        truncated_alerts=truncated,
        common_labels=common_labels,
        alerts=alerts,
    )


def _failed(check: _Checker, name: str) -> bool:
    return any(failed == name for failed, _ in check.errors)


# --- PagerDuty Events API v2 --------------------------------------------------------------------


@dataclass(frozen=True)
class PagerDutyEvent:
    routing_key: str
    action: str
    dedup_key: str
    summary: str = ""
    source: str = ""
    severity: str = ""
    timestamp: datetime | None = None
    component: str = ""
    group: str = ""
    event_class: str = ""
    custom_details: Any = None
    links: list[dict[str, str]] = field(default_factory=list)
    images: list[dict[str, str]] = field(default_factory=list)
    client: str = ""
    client_url: str = ""

    @property
    def labels(self) -> dict[str, str]:
        """Return the event's fields that routing rules match, as labels."""
        candidates = {
            "source": self.source,
            "severity": self.severity,
            "component": self.component,
            "group": self.group,
            "class": self.event_class,
        }
        return {name: value for name, value in candidates.items() if value}


def pagerduty_routing_key(data: object) -> str:
    """Return the routing key of an event, or raise PayloadInvalid naming `routing_key`."""
    check = _Checker()
    root = _root(data, check)
    key = check.text(root, "routing_key", "routing_key", required=True)
    check.done()
    return key


def parse_pagerduty(data: object) -> PagerDutyEvent:
    """Validate a PagerDuty Events API v2 event (the routing key is checked by the caller)."""
    check = _Checker()
    root = _root(data, check)
    routing_key = check.text(root, "routing_key", "routing_key", required=True)
    action = check.text(
        root, "event_action", "event_action", required=True, choices=PAGERDUTY_ACTIONS
    )
    dedup_key = check.text(
        root, "dedup_key", "dedup_key", required=False, max_length=MAX_KEY_LENGTH
    ).strip()
    if action in ("acknowledge", "resolve") and not dedup_key and not _failed(check, "dedup_key"):
        check.fail("dedup_key", f"is required to {action} an alert.")
    if action != "trigger":
        check.done()
        return PagerDutyEvent(routing_key=routing_key, action=action, dedup_key=dedup_key)
    payload = check.obj(root, "payload", "payload", required=True)
    summary = check.text(
        payload, "summary", "payload.summary", required=True, max_length=MAX_SUMMARY_LENGTH
    )
    source = check.text(payload, "source", "payload.source", required=True, max_length=255)
    severity = check.text(
        payload, "severity", "payload.severity", required=True, choices=PAGERDUTY_SEVERITIES
    )
    timestamp = check.timestamp(payload, "timestamp", "payload.timestamp", required=False)
    component = check.text(payload, "component", "payload.component", required=False)
    group = check.text(payload, "group", "payload.group", required=False)
    event_class = check.text(payload, "class", "payload.class", required=False)
    links = _link_list(check, root, "links", "href")
    images = _link_list(check, root, "images", "src")
    client = check.text(root, "client", "client", required=False)
    client_url = check.text(root, "client_url", "client_url", required=False)
    check.done()
    return PagerDutyEvent(
        routing_key=routing_key,
        action=action,
        dedup_key=dedup_key,
        summary=summary.strip(),
        source=source,
        severity=severity,
        timestamp=timestamp,
        component=component[:255],
        group=group[:255],
        event_class=event_class[:255],
        custom_details=payload.get("custom_details"),
        links=links,
        images=images,
        client=client[:255],
        client_url=_http_url(client_url),
    )


def _link_list(check: _Checker, root: dict[str, Any], key: str, url_key: str) -> list[dict]:
    value = root.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        check.fail(key, "must be a list.")
        return []
    kept = []
    for index, item in enumerate(value):
        name = f"{key}[{index}]"
        if not isinstance(item, dict):
            check.fail(name, "must be an object.")
            continue
        url = check.text(item, url_key, f"{name}.{url_key}", required=True)
        text = check.text(item, "text", f"{name}.text", required=False)
        if _http_url(url):
            kept.append({url_key: _http_url(url), "text": text[:255]})
    return kept


# --- Generic JSON -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenericEvent:
    title: str
    status: str
    dedup_key: str
    severity: str
    service: str
    summary: str
    labels: dict[str, str]
    details: Any
    url: str


def parse_generic(data: object) -> GenericEvent:
    """Validate a generic alert: title, severity, service, dedup key, details."""
    check = _Checker()
    root = _root(data, check)
    title = check.text(root, "title", "title", required=True, max_length=MAX_SUMMARY_LENGTH)
    status = check.text(root, "status", "status", required=False, choices=ALERT_STATUSES)
    dedup_key = check.text(
        root, "dedup_key", "dedup_key", required=False, max_length=MAX_KEY_LENGTH
    ).strip()
    if status == "resolved" and not dedup_key and not _failed(check, "dedup_key"):
        check.fail("dedup_key", "is required to resolve an alert.")
    severity = check.text(root, "severity", "severity", required=False, max_length=40)
    service = check.text(root, "service", "service", required=False, max_length=100)
    summary = check.text(root, "summary", "summary", required=False)
    labels = check.labels(root, "labels", "labels", required=False)
    url = check.text(root, "url", "url", required=False)
    check.done()
    return GenericEvent(
        title=title.strip(),
        status=status or "firing",
        dedup_key=dedup_key,
        severity=severity.strip(),
        service=service.strip(),
        summary=summary.strip(),
        labels=labels,
        details=root.get("details"),
        url=_http_url(url),
    )

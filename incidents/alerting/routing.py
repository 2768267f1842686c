"""Which service and severity an alert gets: routing rules, then the source's defaults.

The rules, the severities and the services they name are read from a copy each process keeps
(`routing_policy`): reading and compiling those queries was most of what routing an alert cost.
Saving or deleting any of them in this process drops the copy at once (signals, connected in
apps.py); another process's edits show here within POLICY_SECONDS.
"""

import threading
import time
from dataclasses import dataclass, field
from functools import cached_property

from django.db import transaction
from django.db.models import Q

from incidents.models import Service, Severity

from .models import AlertSource, RoutingRule

# The default severity mapping of the alert sources' own words.
SEVERITY_FOR_LABEL = {
    "critical": "P1",
    "error": "P2",
    "high": "P2",
    "warning": "P3",
    "info": "P4",
}
FALLBACK_SEVERITY = "P3"
# How long a process routes with its copy of the rules before reading them again.
POLICY_SECONDS = 5.0


@dataclass(frozen=True)
class Route:
    service: Service | None
    severity: Severity
    rule: RoutingRule | None
    severity_note: str


@dataclass
class RoutingPolicy:
    """The active rules (of every source, in order) and the severities, as read at `loaded_at`.

    Shared by the threads of a process: nothing changes what it holds, except that `service`
    remembers the services it read.
    """

    rules: list[RoutingRule]
    severities: dict[str, Severity]  # by upper-case code, most severe first
    loaded_at: float
    severities_by_id: dict[int, Severity] = field(init=False)
    services_by_id: dict[int, Service] = field(init=False)

    def __post_init__(self) -> None:
        self.severities_by_id = {severity.pk: severity for severity in self.severities.values()}
        self.services_by_id = {rule.service.pk: rule.service for rule in self.rules}

    def service(self, pk: int) -> Service | None:
        """Return a service by id, read once per copy (sources' default services)."""
        service = self.services_by_id.get(pk)
        if service is None:
            service = Service.objects.select_related("team").filter(pk=pk).first()
            if service is not None:
                self.services_by_id[pk] = service
        return service


_policy: RoutingPolicy | None = None
_generation = 0  # bumped by every forget, so a read that raced an edit is not kept
_lock = threading.Lock()


def routing_policy() -> RoutingPolicy:
    """Return this process's copy of the routing policy, read again when it is too old."""
    global _policy
    policy = _policy
    now = time.monotonic()
    if policy is not None and now - policy.loaded_at < POLICY_SECONDS:
        return policy
    generation = _generation
    policy = RoutingPolicy(
        rules=list(
            RoutingRule.objects.filter(is_active=True)
            .select_related("service__team", "severity")
            .order_by("position", "id")
        ),
        severities={
            severity.code.upper(): severity for severity in Severity.objects.order_by("rank")
        },
        loaded_at=now,
    )
    with _lock:
        if generation == _generation:  # else an edit raced this read: use it this time only
            _policy = policy
    return policy


def routing_policy_forget() -> None:
    """Drop this process's copy of the routing policy; the next alert reads it again."""
    global _policy, _generation
    with _lock:
        _generation += 1
        _policy = None


def routing_policy_changed(**kwargs: object) -> None:
    """Forget the copy now (this transaction's next alert) and after commit (everyone's)."""
    routing_policy_forget()
    transaction.on_commit(routing_policy_forget)


class Router:
    """Route the alerts of one delivery; the routing policy is taken once, when first needed."""

    def __init__(self, source: AlertSource) -> None:
        self.source = source

    @cached_property
    def policy(self) -> RoutingPolicy:
        return routing_policy()

    @property
    def rules(self) -> list[RoutingRule]:
        return self.policy.rules

    @property
    def severities(self) -> dict[str, Severity]:
        return self.policy.severities

    def _by_code(self, code: str) -> Severity:
        # The policy is editable; should a mapped code be gone, page rather than stay quiet.
        return self.severities.get(code) or next(iter(self.severities.values()))

    def _default_severity(self) -> Severity | None:
        pk = self.source.default_severity_id
        if pk is None:
            return None
        return self.policy.severities_by_id.get(pk) or self.source.default_severity

    def severity(self, label: str) -> tuple[Severity, str]:
        """Return the severity for the source's word for it, and a note when it was defaulted."""
        word = label.strip()
        code = SEVERITY_FOR_LABEL.get(word.lower()) or word.upper()
        if word and code in self.severities:
            return self.severities[code], ""
        default = self._default_severity()
        said = f'Unknown severity "{word}"' if word else "No severity given"
        if default is not None:
            return default, f"{said}: {default.code}, the source's default."
        return self._by_code(FALLBACK_SEVERITY), f"{said}: {FALLBACK_SEVERITY} by default."

    def service_named(self, name: str) -> Service | None:
        """Return the service a sender named by slug or name, if there is one."""
        if not name:
            return None
        return (
            Service.objects.select_related("team")
            .filter(Q(slug__iexact=name) | Q(name__iexact=name))
            .first()
        )

    def route(
        self, *, labels: dict[str, str], severity_label: str, service_name: str = ""
    ) -> Route:
        """Route an alert: the first matching rule, else the named service, else the default."""
        severity, note = self.severity(severity_label)
        for rule in self.rules:
            if rule.matches(self.source, labels):
                if rule.severity is not None:
                    severity, note = rule.severity, ""
                return Route(service=rule.service, severity=severity, rule=rule, severity_note=note)
        service = self.service_named(service_name)
        if service is None and self.source.default_service_id is not None:
            service = self.policy.service(self.source.default_service_id)
        return Route(service=service, severity=severity, rule=None, severity_note=note)

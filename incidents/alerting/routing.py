"""Which service and severity an alert gets: routing rules, then the source's defaults."""

from dataclasses import dataclass
from functools import cached_property

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


@dataclass(frozen=True)
class Route:
    service: Service | None
    severity: Severity
    rule: RoutingRule | None
    severity_note: str


class Router:
    """Route the alerts of one delivery; rules and severities are read once, when first needed."""

    def __init__(self, source: AlertSource) -> None:
        self.source = source

    @cached_property
    def rules(self) -> list[RoutingRule]:
        return list(
            RoutingRule.objects.filter(is_active=True)
            .filter(Q(source=self.source) | Q(source__isnull=True))
            .select_related("service__team", "severity")
            .order_by("position", "id")
        )

    @cached_property
    def severities(self) -> dict[str, Severity]:
        return {severity.code.upper(): severity for severity in Severity.objects.order_by("rank")}

    def _by_code(self, code: str) -> Severity:
        # The policy is editable; should a mapped code be gone, page rather than stay quiet.
        return self.severities.get(code) or next(iter(self.severities.values()))

    def severity(self, label: str) -> tuple[Severity, str]:
        """Return the severity for the source's word for it, and a note when it was defaulted."""
        word = label.strip()
        code = SEVERITY_FOR_LABEL.get(word.lower()) or word.upper()
        if word and code in self.severities:
            return self.severities[code], ""
        default = self.source.default_severity
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
        service = self.service_named(service_name) or self.source.default_service
        return Route(service=service, severity=severity, rule=None, severity_note=note)

"""Reads of the alerting app: authenticating senders, the triage list, an incident's alerts and
why they are grouped."""

from collections.abc import Collection

from django.db import connection
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.urls import reverse

from incidents.models import Incident
from incidents.selectors import incident_list
from portal.errors import ApplicationError
from portal.links import absolute_url

from .models import Alert, AlertSource, IncidentGrouping, secret_digest


class SourceAuthenticationFailed(ApplicationError):
    """The request did not carry the secret of an active alert source."""

    status_code = 401


class SourceKindMismatch(ApplicationError):
    """The secret is right, but the source sends another format to another address."""

    status_code = 404


# What ingesting needs of a source; the other fields load if something reads them.
HOOK_SOURCE_FIELDS = (
    "id",
    "name",
    "kind",
    "secret_digest",
    "default_service_id",
    "default_severity_id",
)


def alert_source_for_hook(*, source_id: int, kinds: Collection[str], secret: str) -> AlertSource:
    """Return the active source whose secret this is, or raise SourceAuthenticationFailed."""
    # Written out: compiling the ORM's query took several times as long as running it. No
    # joins: the routing policy holds the services and severities a source's defaults name.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(HOOK_SOURCE_FIELDS)} FROM {AlertSource._meta.db_table}"  # noqa: S608 (model table)
            " WHERE id = %s AND is_active = %s",
            [source_id, True],
        )
        row = cursor.fetchone()
    source = None if row is None else AlertSource.from_db(connection.alias, HOOK_SOURCE_FIELDS, row)
    if source is None or not secret or not source.secret_matches(secret):
        raise SourceAuthenticationFailed(
            "Send the alert source's secret as 'Authorization: Bearer <secret>'."
        )
    if source.kind not in kinds:
        raise SourceKindMismatch(
            f"{source.name} is a {source.get_kind_display()} source; "
            f"send its alerts to {alert_source_hook_url(source)}."
        )
    return source


def alert_source_for_routing_key(*, routing_key: str) -> AlertSource:
    """Return the active PagerDuty-compatible source whose routing key (secret) this is."""
    digest = secret_digest(routing_key)
    source = (
        AlertSource.objects.select_related("default_service__team", "default_severity")
        .filter(secret_digest=digest, kind=AlertSource.Kind.PAGERDUTY, is_active=True)
        .first()
    )
    if source is None or not source.secret_matches(routing_key):
        raise SourceAuthenticationFailed("No active integration has this routing_key.")
    return source


def alert_source_hook_url(source: AlertSource) -> str:
    """Return the full address the source posts its alerts to."""
    if source.kind == AlertSource.Kind.PAGERDUTY:
        path = reverse("hooks:pagerduty")
    else:
        path = reverse(f"hooks:{source.kind}", kwargs={"source_id": source.pk})
    return absolute_url(path)


def _episode_total() -> Subquery:
    """Count the firing episodes of the same alert (source and fingerprint), for toil."""
    return Subquery(
        Alert.objects.filter(source=OuterRef("source"), fingerprint=OuterRef("fingerprint"))
        .order_by()
        .values("source", "fingerprint")
        .annotate(total=Count("id"))
        .values("total")[:1],
        output_field=IntegerField(),
    )


def _with_page_data(qs: QuerySet[Alert]) -> QuerySet[Alert]:
    return qs.select_related(
        "source", "severity", "service", "incident", "actionable_set_by", "group"
    ).annotate(episode_total=_episode_total())


def alerts_for_incident(*, incident: Incident) -> QuerySet[Alert]:
    """Return the incident's alert episodes: firing first, then newest first."""
    return _with_page_data(Alert.objects.filter(incident=incident)).order_by(
        "status", "-starts_at", "-id"
    )


def incident_alert_counts(*, incident: Incident) -> tuple[int, int]:
    """Return how many alert episodes the incident has, and how many of them fire."""
    counts = Alert.objects.filter(incident=incident).aggregate(
        total=Count("id"), firing=Count("id", filter=Q(status=Alert.Status.FIRING))
    )
    return counts["total"], counts["firing"]


def incident_grouping_get(*, incident: Incident) -> IncidentGrouping | None:
    """Return why the incident groups alerts (an alert storm, a grouping rule), if it does."""
    return (
        IncidentGrouping.objects.select_related("rule", "service").filter(incident=incident).first()
    )


def alert_triage_list(*, include_dismissed: bool = False) -> QuerySet[Alert]:
    """Return alerts that belong to no incident: firing first, most severe, newest.

    Alerts marked not actionable (false positives) are left out unless asked for.
    """
    qs = Alert.objects.filter(incident__isnull=True)
    if not include_dismissed:
        qs = qs.filter(Q(actionable__isnull=True) | Q(actionable=True))
    return _with_page_data(qs).order_by("status", "severity__rank", "-last_seen_at", "-id")


def alert_get(*, pk: int) -> Alert:
    """Return one alert with what its pages need, or raise Alert.DoesNotExist."""
    return _with_page_data(Alert.objects.all()).get(pk=pk)


def attachable_incidents() -> QuerySet[Incident]:
    """Return the open incidents a triage alert can be attached to, newest first."""
    return incident_list(open_only=True)

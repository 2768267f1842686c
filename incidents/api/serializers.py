"""Shapes of the incident API: what goes in (types, required, choices) and what comes out.

Request serializers check the shape of the input only; every rule (who may, which transition,
which dates make sense) is the services' to enforce.
"""

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .. import selectors
from ..models import (
    Incident,
    IncidentRole,
    IncidentStatus,
    RoleAssignment,
    Service,
    ServiceLink,
    Severity,
    StatusUpdate,
    Team,
    TimelineEvent,
    UpdateStatus,
)
from ..oncall.models import Schedule

User = get_user_model()


def _seconds(duration: timedelta | None) -> int | None:
    return None if duration is None else int(duration.total_seconds())


# Named enum components, so that the two "status" vocabularies never collide in the schema.
@extend_schema_field(
    {"type": "string", "enum": IncidentStatus.values}, component_name="IncidentStatusEnum"
)
class IncidentStatusField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=IncidentStatus.choices, **kwargs)


@extend_schema_field(
    {"type": "string", "enum": UpdateStatus.values}, component_name="UpdateStatusEnum"
)
class UpdateStatusField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=UpdateStatus.choices, **kwargs)


def severity_field(**kwargs: Any) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(
        slug_field="code",
        queryset=Severity.objects.all(),
        help_text="Severity code, e.g. P1.",
        **kwargs,
    )


def user_field(**kwargs: Any) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.all(), **kwargs
    )


def username_field(**kwargs: Any) -> serializers.SlugRelatedField:
    kwargs.setdefault("allow_null", True)
    kwargs.setdefault("help_text", "Username.")
    return serializers.SlugRelatedField(slug_field="username", read_only=True, **kwargs)


# --- Representations ------------------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "string",
        "format": "uri",
        "nullable": True,
        "description": "The incident's call or chat bridge; null when it has none.",
    }
)
class BridgeUrlField(serializers.CharField):
    """The bridge link, null rather than "" when there is none (an empty string is no URI)."""

    def to_representation(self, value: str) -> str | None:  # type: ignore[override]
        return value or None


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?$",
        "example": "09:00:00",
        "description": "Local time of day (HH:MM:SS) in the team's `time_zone`, without offset.",
    }
)
class LocalTimeField(serializers.TimeField):
    """A wall-clock time in the team's zone: not an RFC 3339 `time`, which needs an offset."""


class IncidentRolesSerializer(serializers.Serializer):
    """Username of each role's current holder; null while the role is free."""

    commander = serializers.CharField(allow_null=True)
    investigator = serializers.CharField(allow_null=True)
    communicator = serializers.CharField(allow_null=True)
    scribe = serializers.CharField(allow_null=True)


class IncidentSerializer(serializers.ModelSerializer):
    """An incident as the API shows it, with its roles, derived durations and update cadence."""

    reference = serializers.CharField(read_only=True, help_text="INC-<id>")
    severity = serializers.SlugRelatedField(
        slug_field="code", read_only=True, help_text="Severity code."
    )
    peak_severity = serializers.SlugRelatedField(
        slug_field="code", read_only=True, help_text="The most severe code the incident had."
    )
    status = IncidentStatusField(read_only=True)
    team = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True, help_text="Owning team's slug."
    )
    services = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True, help_text="Affected services' slugs."
    )
    regions = serializers.ListField(child=serializers.CharField(), read_only=True)
    bridge_url = BridgeUrlField(read_only=True)
    declared_by = username_field(help_text="Username; null when an alert opened the incident.")
    commander = serializers.SerializerMethodField()
    needs_commander = serializers.SerializerMethodField()
    roles = serializers.SerializerMethodField()
    time_to_acknowledge = serializers.SerializerMethodField()
    time_to_resolve = serializers.SerializerMethodField()
    time_to_detect = serializers.SerializerMethodField()
    next_update_due = serializers.SerializerMethodField()
    update_overdue = serializers.SerializerMethodField()
    url = serializers.HyperlinkedIdentityField(view_name="incident-detail")

    class Meta:
        model = Incident
        fields = [
            "id",
            "reference",
            "title",
            "summary",
            "severity",
            "peak_severity",
            "status",
            "team",
            "services",
            "impact",
            "users_affected_pct",
            "regions",
            "customer_facing",
            "bridge_url",
            "source",
            "declared_by",
            "commander",
            "needs_commander",
            "roles",
            "impact_started_at",
            "detected_at",
            "acknowledged_at",
            "mitigated_at",
            "resolved_at",
            "closed_at",
            "time_to_acknowledge",
            "time_to_resolve",
            "time_to_detect",
            "next_update_due",
            "update_overdue",
            "url",
        ]
        read_only_fields = fields

    def _holders(self, incident: Incident) -> dict[str, str]:
        """Return {role: username}, from the list's prefetch when there is one."""
        cached = getattr(incident, "_api_role_holders", None)
        if cached is None:
            roles = selectors.incident_current_roles(incident=incident)
            cached = {role: a.user.get_username() for role, a in roles.items()}
            incident._api_role_holders = cached  # type: ignore[attr-defined]
        return cached

    def get_commander(self, incident: Incident) -> str | None:
        return self._holders(incident).get(IncidentRole.COMMANDER)

    def get_needs_commander(self, incident: Incident) -> bool:
        return selectors.incident_needs_commander(incident)

    @extend_schema_field(IncidentRolesSerializer)
    def get_roles(self, incident: Incident) -> dict[str, str | None]:
        holders = self._holders(incident)
        return {role: holders.get(role) for role in IncidentRole.values}

    def get_time_to_acknowledge(self, incident: Incident) -> int | None:
        """Seconds from detection to acknowledgement."""
        return _seconds(incident.time_to_acknowledge)

    def get_time_to_resolve(self, incident: Incident) -> int | None:
        """Seconds from detection to resolution."""
        return _seconds(incident.time_to_resolve)

    def get_time_to_detect(self, incident: Incident) -> int:
        """Seconds from the start of impact to detection."""
        return int(incident.time_to_detect.total_seconds())

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_update_due(self, incident: Incident) -> str | None:
        """When the next status update is due; null when the severity sets no cadence."""
        due = selectors.incident_next_update_due(incident)
        return serializers.DateTimeField().to_representation(due) if due else None

    def get_update_overdue(self, incident: Incident) -> bool:
        return selectors.incident_update_overdue(incident)


class RoleHolderSerializer(serializers.ModelSerializer):
    """One current role holder."""

    user = username_field(allow_null=False, help_text="Username of the holder.")
    assigned_by = username_field()

    class Meta:
        model = RoleAssignment
        fields = ["role", "user", "assigned_by", "started_at"]
        read_only_fields = fields


class TimelineEventSerializer(serializers.ModelSerializer):
    """One timeline event; a correction names the event it corrects."""

    actor = username_field(help_text="Username; null for the system and alert sources.")
    # Declared fields leave the class body, so this does not shadow Serializer.data.
    data = serializers.DictField(read_only=True)  # type: ignore[assignment]

    class Meta:
        model = TimelineEvent
        fields = [
            "id",
            "kind",
            "occurred_at",
            "recorded_at",
            "actor",
            "source",
            "from_value",
            "to_value",
            "message",
            "data",
            "corrects",
        ]
        read_only_fields = fields


class StatusUpdateSerializer(serializers.ModelSerializer):
    """An internal status update in the runbook's template."""

    status = UpdateStatusField(read_only=True)
    author = username_field()
    text = serializers.CharField(source="as_text", read_only=True)

    class Meta:
        model = StatusUpdate
        fields = [
            "id",
            "status",
            "impact",
            "last_action",
            "next_action",
            "eta",
            "author",
            "source",
            "posted_at",
            "text",
        ]
        read_only_fields = fields


class TeamSerializer(serializers.ModelSerializer):
    """A team with its people, channel and business hours."""

    members = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)
    engineering_managers = serializers.SlugRelatedField(
        slug_field="username", many=True, read_only=True
    )
    escalation_contact = username_field(help_text="Username of the VP or last escalation step.")
    business_days = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        read_only=True,
        help_text="Weekday numbers, Monday = 0.",
    )
    business_day_start = LocalTimeField(read_only=True)
    business_day_end = LocalTimeField(read_only=True)

    class Meta:
        model = Team
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "members",
            "engineering_managers",
            "escalation_contact",
            "chat_channel",
            "email",
            "time_zone",
            "business_day_start",
            "business_day_end",
            "business_days",
            "holiday_country",
            "holiday_subdivision",
        ]
        read_only_fields = fields


class ServiceLinkSerializer(serializers.ModelSerializer):
    class Meta:
        model = ServiceLink
        fields = ["kind", "title", "url"]
        read_only_fields = fields


class ServiceSerializer(serializers.ModelSerializer):
    """A catalog entry with its runbook and dashboard links."""

    team = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, help_text="Owning team's slug."
    )
    links = ServiceLinkSerializer(many=True, read_only=True)

    class Meta:
        model = Service
        fields = ["id", "name", "slug", "team", "description", "links"]
        read_only_fields = fields


class SeveritySerializer(serializers.ModelSerializer):
    """One row of the severity policy; durations in seconds."""

    ack_timeout = serializers.SerializerMethodField()
    update_interval = serializers.SerializerMethodField()
    postmortem_review_within = serializers.SerializerMethodField()

    class Meta:
        model = Severity
        fields = [
            "code",
            "name",
            "rank",
            "description",
            "response_target",
            "ack_timeout",
            "update_interval",
            "business_hours_only",
            "pages_oncall",
            "notifies_engineering_manager",
            "notifies_vp",
            "escalation",
            "postmortem_required",
            "postmortem_review_within",
        ]
        read_only_fields = fields

    def get_ack_timeout(self, severity: Severity) -> int | None:
        """Seconds to acknowledge before escalation; null: no acknowledgement deadline."""
        return _seconds(severity.ack_timeout)

    def get_update_interval(self, severity: Severity) -> int | None:
        """Seconds between status updates; null: no cadence."""
        return _seconds(severity.update_interval)

    def get_postmortem_review_within(self, severity: Severity) -> int | None:
        """Seconds within which the postmortem is reviewed; null: no deadline."""
        return _seconds(severity.postmortem_review_within)


class ErrorSerializer(serializers.Serializer):
    """An error a person can act on."""

    detail = serializers.CharField()


# --- Requests -------------------------------------------------------------------------------------


class IncidentDescriptionFields(serializers.Serializer):
    """What describes an incident's impact, shared by declaring and editing."""

    summary = serializers.CharField(required=False, allow_blank=True)
    impact = serializers.CharField(required=False, allow_blank=True)
    users_affected_pct = serializers.IntegerField(
        min_value=0, max_value=100, required=False, allow_null=True
    )
    regions = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=50
    )


class IncidentDeclareSerializer(IncidentDescriptionFields):
    """Declare an incident; the declarer is Incident Commander unless `commander` names someone."""

    title = serializers.CharField(max_length=200)
    severity = severity_field()
    services = serializers.SlugRelatedField(
        slug_field="slug", queryset=Service.objects.all(), many=True, required=False
    )
    team = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Team.objects.all(),
        required=False,
        allow_null=True,
        help_text="Owning team; defaults to the first service's team.",
    )
    customer_facing = serializers.BooleanField(default=True)
    bridge_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    commander = user_field(required=False, allow_null=True, help_text="Username; default: you.")
    impact_started_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Default: now."
    )


NOT_A_DETAIL = (
    "Not an editable detail; status, severity and roles change through their own endpoints."
)


class IncidentDetailsSerializer(IncidentDescriptionFields):
    """Edit an incident's descriptive fields; send only what changes."""

    title = serializers.CharField(max_length=200, required=False)
    customer_facing = serializers.BooleanField(required=False)
    bridge_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    impact_started_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="null: impact started at detection."
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # A field this endpoint cannot edit (status, severity, …) is refused, not silently
        # ignored: those change through their own endpoints.
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: [NOT_A_DETAIL] for name in unknown})
        return super().to_internal_value(data)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField(required=False, allow_blank=True, default="")


class SeverityChangeSerializer(serializers.Serializer):
    severity = severity_field()
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class RoleAssignSerializer(serializers.Serializer):
    """Take a role (no `user`) or give it to someone, handing it over from any holder."""

    role = serializers.ChoiceField(choices=IncidentRole.choices)
    user = user_field(required=False, allow_null=True, help_text="Username; default: you.")


class TimelineNoteSerializer(serializers.Serializer):
    """A scribe note, dated within the incident's window; `corrects` names a corrected event."""

    body = serializers.CharField()
    occurred_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Default: now."
    )
    corrects = serializers.PrimaryKeyRelatedField(
        queryset=TimelineEvent.objects.all(), required=False, allow_null=True
    )


class StatusUpdatePostSerializer(serializers.Serializer):
    """A status update; `resolve` with Status RESOLVED also resolves the incident."""

    status = UpdateStatusField()
    impact = serializers.CharField()
    last_action = serializers.CharField()
    next_action = serializers.CharField()
    eta = serializers.CharField(max_length=100, required=False, default="unknown")
    resolve = serializers.BooleanField(default=False)


class PageMoreSerializer(serializers.Serializer):
    """Whom to page in addition: people, and whoever is on call for schedules or teams."""

    users = serializers.ListField(child=user_field(), required=False, default=list)
    schedules = serializers.ListField(
        child=serializers.SlugRelatedField(slug_field="slug", queryset=Schedule.objects.all()),
        required=False,
        default=list,
    )
    teams = serializers.ListField(
        child=serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all()),
        required=False,
        default=list,
    )


class PageSerializer(serializers.Serializer):
    """One page sent (or queued) to one person through one channel."""

    recipient = serializers.CharField(source="recipient.username")
    channel = serializers.CharField()
    kind = serializers.CharField()

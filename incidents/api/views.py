"""The incident REST API: thin views that parse input, call one service and render the result.

Reading needs a portal group (the default permission); everything else the services decide, and
their errors become 400/403/409 in `portal.api.errors`. The POSTs that create something (declare,
note, status update, page) take an Idempotency-Key (`portal.idempotency`), so a client retrying
after a lost answer creates nothing twice; transitions and role changes repeat as no-ops or 409s.
"""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from portal.idempotency import idempotent

from .. import selectors, services
from ..models import Incident, IncidentRole, Service, Severity, Source, Team
from ..oncall import paging
from ..oncall.escalation import page_targets
from .filters import IncidentFilter
from .serializers import (
    ErrorSerializer,
    IncidentDeclareSerializer,
    IncidentDetailsSerializer,
    IncidentSerializer,
    MessageSerializer,
    PageMoreSerializer,
    PageSerializer,
    ReasonSerializer,
    RoleAssignSerializer,
    RoleHolderSerializer,
    ServiceSerializer,
    SeverityChangeSerializer,
    SeveritySerializer,
    StatusUpdatePostSerializer,
    StatusUpdateSerializer,
    TeamSerializer,
    TimelineEventSerializer,
    TimelineNoteSerializer,
)

BAD_INPUT = OpenApiResponse(OpenApiTypes.OBJECT, description="Field errors: {field: [message]}.")
NOT_ALLOWED = OpenApiResponse(ErrorSerializer, description="You may not do this.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such incident.")
CONFLICT = OpenApiResponse(ErrorSerializer, description="The incident's state does not allow it.")
WRITE_ERRORS = {400: BAD_INPUT, 403: NOT_ALLOWED, 404: NOT_FOUND, 409: CONFLICT}
INCIDENT_CHANGED = {200: IncidentSerializer, **WRITE_ERRORS}


# Incidents: list, declare, read, edit, and one action per lifecycle transition. (A comment, not a
# docstring: the schema would repeat a class docstring as every operation's description.)
class IncidentViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = IncidentSerializer
    filterset_class = IncidentFilter
    queryset = Incident.objects.none()  # names the model for the schema; reads use selectors
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Incident]:
        return selectors.incident_list()

    def get_object(self) -> Incident:
        try:
            incident = selectors.incident_get(pk=int(self.kwargs["pk"]))
        except (Incident.DoesNotExist, ValueError):
            raise NotFound("No such incident.") from None
        self.check_object_permissions(self.request, incident)
        return incident

    def _input(self, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _incident(self, incident: Incident, status_code: int = status.HTTP_200_OK) -> Response:
        """Render the incident as it now is."""
        fresh = selectors.incident_get(pk=incident.pk)
        return Response(self.get_serializer(fresh).data, status=status_code)

    @extend_schema(summary="List incidents, newest first")
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @idempotent
    @extend_schema(
        summary="Declare an incident",
        request=IncidentDeclareSerializer,
        responses={201: IncidentSerializer, 400: BAD_INPUT, 403: NOT_ALLOWED},
    )
    def create(self, request: Request) -> Response:
        data = self._input(IncidentDeclareSerializer)
        incident = services.incident_declare(actor=request.user, source=Source.API, **data)
        response = self._incident(incident, status.HTTP_201_CREATED)
        response["Location"] = str(response.data["url"])  # WSGI wants exactly str
        return response

    @extend_schema(summary="Read an incident", responses={200: IncidentSerializer, 404: NOT_FOUND})
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Edit the incident's details",
        request=IncidentDetailsSerializer,
        responses=INCIDENT_CHANGED,
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        incident = self.get_object()
        changes = self._input(IncidentDetailsSerializer)
        incident = services.incident_update_details(
            incident=incident, actor=request.user, source=Source.API, **changes
        )
        return self._incident(incident)

    # --- Lifecycle transitions -------------------------------------------------------------------

    @extend_schema(
        summary="Acknowledge a triggered incident", request=None, responses=INCIDENT_CHANGED
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str) -> Response:
        incident = services.incident_acknowledge(
            incident=self.get_object(), actor=request.user, source=Source.API
        )
        return self._incident(incident)

    @extend_schema(
        summary="Start (or resume) investigating",
        description="From mitigated, `reason` says why the mitigation did not hold.",
        request=ReasonSerializer,
        responses=INCIDENT_CHANGED,
    )
    @action(detail=True, methods=["post"])
    def investigate(self, request: Request, pk: str) -> Response:
        incident = self.get_object()
        data = self._input(ReasonSerializer)
        incident = services.incident_start_investigating(
            incident=incident, actor=request.user, source=Source.API, **data
        )
        return self._incident(incident)

    @extend_schema(
        summary="Mark the incident mitigated", request=MessageSerializer, responses=INCIDENT_CHANGED
    )
    @action(detail=True, methods=["post"])
    def mitigate(self, request: Request, pk: str) -> Response:
        incident = self.get_object()
        data = self._input(MessageSerializer)
        incident = services.incident_mitigate(
            incident=incident, actor=request.user, source=Source.API, **data
        )
        return self._incident(incident)

    @extend_schema(
        summary="Resolve the incident", request=MessageSerializer, responses=INCIDENT_CHANGED
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        incident = self.get_object()
        data = self._input(MessageSerializer)
        incident = services.incident_resolve(
            incident=incident, actor=request.user, source=Source.API, **data
        )
        return self._incident(incident)

    @extend_schema(
        summary="Reopen a resolved incident", request=ReasonSerializer, responses=INCIDENT_CHANGED
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str) -> Response:
        incident = self.get_object()
        data = self._input(ReasonSerializer)
        incident = services.incident_reopen(
            incident=incident, actor=request.user, source=Source.API, **data
        )
        return self._incident(incident)

    @extend_schema(summary="Close a resolved incident", request=None, responses=INCIDENT_CHANGED)
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str) -> Response:
        incident = services.incident_close(
            incident=self.get_object(), actor=request.user, source=Source.API
        )
        return self._incident(incident)

    @extend_schema(
        summary="Change the severity",
        request=SeverityChangeSerializer,
        responses=INCIDENT_CHANGED,
    )
    @action(detail=True, methods=["post"])
    def severity(self, request: Request, pk: str) -> Response:
        incident = self.get_object()
        data = self._input(SeverityChangeSerializer)
        incident = services.incident_change_severity(
            incident=incident, actor=request.user, source=Source.API, **data
        )
        return self._incident(incident)

    # --- Roles ----------------------------------------------------------------------------------

    @extend_schema(
        methods=["GET"],
        summary="List current role holders",
        responses={200: RoleHolderSerializer(many=True), 404: NOT_FOUND},
    )
    @extend_schema(
        methods=["POST"],
        summary="Take a role, or assign / hand it over",
        request=RoleAssignSerializer,
        responses=INCIDENT_CHANGED,
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None, filter_backends=[])
    def roles(self, request: Request, pk: str) -> Response:
        incident = self.get_object()
        if request.method == "GET":
            holders = selectors.incident_current_roles(incident=incident)
            ordered = [holders[role] for role in IncidentRole.values if role in holders]
            return Response(RoleHolderSerializer(ordered, many=True).data)
        data = self._input(RoleAssignSerializer)
        services.incident_role_assign(
            incident=incident, actor=request.user, source=Source.API, **data
        )
        return self._incident(incident)

    @idempotent
    @extend_schema(
        summary="Page more people (the IC's decision to escalate)",
        request=PageMoreSerializer,
        responses={201: PageSerializer(many=True), **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def page(self, request: Request, pk: str) -> Response:
        incident = self.get_object()
        data = self._input(PageMoreSerializer)
        targets = page_targets(
            users=data["users"], schedules=data["schedules"], teams=data["teams"]
        )
        pages = paging.page_more(
            incident=incident, actor=request.user, targets=targets, source=Source.API
        )
        return Response(PageSerializer(pages, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Leave a role, or relieve its holder",
        parameters=[
            OpenApiParameter(
                "role", OpenApiTypes.STR, OpenApiParameter.PATH, enum=IncidentRole.values
            )
        ],
        request=None,
        responses=INCIDENT_CHANGED,
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"roles/(?P<role>[^/.]+)",
        url_name="role-release",
    )
    def release_role(self, request: Request, pk: str, role: str) -> Response:
        incident = services.incident_role_release(
            incident=self.get_object(), actor=request.user, role=role, source=Source.API
        )
        return self._incident(incident)

    # --- Timeline and status updates -------------------------------------------------------------

    @idempotent
    @extend_schema(
        methods=["GET"],
        summary="Read the timeline in event-time order",
        responses={200: TimelineEventSerializer(many=True), 404: NOT_FOUND},
    )
    @extend_schema(
        methods=["POST"],
        summary="Add a scribe note",
        request=TimelineNoteSerializer,
        responses={201: TimelineEventSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None, filter_backends=[])
    def timeline(self, request: Request, pk: str) -> Response:
        incident = self.get_object()
        if request.method == "GET":
            events = selectors.incident_timeline(incident=incident)
            return Response(TimelineEventSerializer(events, many=True).data)
        data = self._input(TimelineNoteSerializer)
        event = services.timeline_note_add(
            incident=incident, actor=request.user, source=Source.API, **data
        )
        return Response(TimelineEventSerializer(event).data, status=status.HTTP_201_CREATED)

    @idempotent
    @extend_schema(
        methods=["GET"],
        summary="Read the internal status updates, newest first",
        responses={200: StatusUpdateSerializer(many=True), 404: NOT_FOUND},
    )
    @extend_schema(
        methods=["POST"],
        summary="Post an internal status update",
        request=StatusUpdatePostSerializer,
        responses={201: StatusUpdateSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None, filter_backends=[])
    def updates(self, request: Request, pk: str) -> Response:
        incident = self.get_object()
        if request.method == "GET":
            updates = selectors.incident_status_updates(incident=incident)
            return Response(StatusUpdateSerializer(updates, many=True).data)
        data = self._input(StatusUpdatePostSerializer)
        update = services.status_update_post(
            incident=incident, actor=request.user, source=Source.API, **data
        )
        return Response(StatusUpdateSerializer(update).data, status=status.HTTP_201_CREATED)


class TeamViewSet(viewsets.ReadOnlyModelViewSet):
    """Teams with their people, channel and business hours."""

    serializer_class = TeamSerializer
    queryset = Team.objects.none()
    lookup_field = "slug"

    def get_queryset(self) -> QuerySet[Team]:
        return selectors.team_list()


class ServiceViewSet(viewsets.ReadOnlyModelViewSet):
    """The service catalog with runbook and dashboard links."""

    serializer_class = ServiceSerializer
    queryset = Service.objects.none()
    lookup_field = "slug"

    def get_queryset(self) -> QuerySet[Service]:
        return selectors.service_list()


class SeverityViewSet(viewsets.ReadOnlyModelViewSet):
    """The severity policy, most severe first."""

    serializer_class = SeveritySerializer
    queryset = Severity.objects.none()
    lookup_field = "code"

    def get_queryset(self) -> QuerySet[Severity]:
        return selectors.severity_list()

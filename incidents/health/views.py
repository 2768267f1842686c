"""On-call health pages: the dashboard, the rows behind each figure, CSV export, weekly report.

Views parse filters, call metrics, render; readers per docs/ARCHITECTURE.md, Permission matrix
(viewers, responders, managers, staff) see them, anyone else signed in gets a 403.
"""

from collections.abc import Callable
from datetime import date, timedelta
from functools import wraps
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.db.models import Model, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from incidents.alerting.models import AlertSource
from incidents.models import Team
from incidents.oncall.models import Schedule
from incidents.views import forbidden
from portal.auth import can_read_portal
from portal.people import display_name

from . import drilldown
from .dashboard import dashboard_context, health_url
from .export import EXPORT_KINDS, Kind, csv_filename, csv_lines, rows_csv
from .forms import HealthFilterForm, Scope, parse_iso_week, parse_month
from .reports import report_path, weekly_report_build

View = Callable[..., HttpResponseBase]

DRILL_PAGE_SIZE = 50
SCOPE_PARAMS = ("days", "week", "team", "service", "severity")
FORBIDDEN_REASON = (
    "Your account is not in a group that may read on-call metrics. "
    "Ask an administrator to add you to viewers, responders or managers."
)


def metrics_reader(view: View) -> View:
    """Let signed-in readers of metrics through; others go to login or get a 403."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not can_read_portal(request.user):
            return forbidden(request, FORBIDDEN_REASON)
        return view(request, *args, **kwargs)

    return wrapper


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _scope_text(scope: Scope) -> str:
    """Say in words what the scope covers: period, dates, zone, filters."""
    zone = scope.window.zone
    first = scope.window.start.astimezone(zone).date()
    last = (scope.window.end - timedelta(microseconds=1)).astimezone(zone).date()
    if scope.week and scope.days:
        period = f"Week {scope.week_text} within the last {scope.days} days"
    elif scope.week:
        period = f"Week {scope.week_text}"
    else:
        period = f"Last {scope.days} days"
    parts = [f"{period} ({first:%Y-%m-%d} to {last:%Y-%m-%d}, {zone.key})"]
    if scope.window.end <= scope.window.start:
        # A week outside the period (an old bookmark): say so rather than print a backwards range.
        parts = [
            f"Week {scope.week_text} is not within the last {scope.days} days: nothing to show "
            "(drop the period to see the whole week)"
        ]
    if scope.team:
        parts.append(f"team {scope.team.name}")
    if scope.service:
        parts.append(f"service {scope.service.name}")
    if scope.severity:
        parts.append(f"peak severity {scope.severity.code}")
    return " · ".join(parts)


def _paginate(request: HttpRequest, rows: QuerySet[Any]) -> tuple[Any, str]:
    page = Paginator(rows, DRILL_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()


def _filter_form(request: HttpRequest) -> tuple[HealthFilterForm, Scope]:
    form = HealthFilterForm(request.GET)
    return form, form.scope()


# --- Dashboard ---------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD"])
@metrics_reader
def dashboard(request: HttpRequest) -> HttpResponse:
    """Show the period's on-call figures beside the runbook's targets, with weekly trends."""
    form, scope = _filter_form(request)
    context = dashboard_context(
        scope=scope,
        user=request.user,
        teams=list(form.teams.values()),
        services=list(form.services.values()),
        next_url=request.get_full_path(),
    )
    context.update({"filter_form": form, "scope_text": _scope_text(scope)})
    return render(request, "health/dashboard.html", context)


# --- The rows behind the figures -----------------------------------------------------------------


def _drill(
    request: HttpRequest,
    template: str,
    *,
    form: HealthFilterForm,
    scope: Scope,
    title: str,
    description: str,
    rows: QuerySet[Any],
    export_kind: str,
    scope_text: str | None = None,
) -> HttpResponse:
    page, query = _paginate(request, rows)
    # The figure's own parameters ride along when the filters change.
    keep = [
        (name, value)
        for name, values in request.GET.lists()
        if name not in SCOPE_PARAMS and name != "page"
        for value in values
    ]
    path = request.path
    return render(
        request,
        template,
        {
            "filter_form": form,
            "scope": scope,
            "scope_text": scope_text or _scope_text(scope),
            "title": title,
            "description": description,
            "page": page,
            "query": query,
            "dashboard_url": health_url("dashboard", scope),
            "keep": keep,
            "clear_url": path + "?" + scope.query(team="", service="", severity="", **dict(keep)),
            "export_url": health_url("export", scope, kind=export_kind),
        },
    )


@require_http_methods(["GET", "HEAD"])
@metrics_reader
def incident_list(request: HttpRequest) -> HttpResponse:
    """List the incidents behind a figure: ?figure=mtta, never_acknowledged, checklist …"""
    form, scope = _filter_form(request)
    figure = request.GET.get("figure") or "incidents"
    if figure == "checklist":
        item, state = request.GET.get("item", ""), request.GET.get("state", "")
        try:
            rows = drilldown.checklist_incidents(window=scope.window, key=item, state=state)
        except ValueError:
            return HttpResponseBadRequest("Choose a checklist item and done or missing.")
        title = f"{drilldown.checklist_label(item)}: {state}"
        description = (
            f"Incidents resolved in the period whose after-incident checklist item "
            f"“{drilldown.checklist_label(item)}” is {state}."
        )
    elif figure in drilldown.INCIDENT_FIGURES:
        rows = drilldown.incident_rows(window=scope.window, figure=figure)
        known = drilldown.INCIDENT_FIGURES[figure]
        title, description = known.label, f"Incidents detected in the period: {known.description}."
    else:
        return HttpResponseBadRequest(f"There is no incident figure called {figure!r}.")
    return _drill(
        request,
        "health/incidents.html",
        form=form,
        scope=scope,
        title=title,
        description=description,
        rows=rows,
        export_kind="incidents",
    )


def _name_of(model: type[Model], pk: int | None, attribute: str) -> str:
    if pk is None:
        return ""
    found = model._default_manager.filter(pk=pk).first()
    return str(getattr(found, attribute)) if found is not None else f"#{pk}"


@require_http_methods(["GET", "HEAD"])
@metrics_reader
def page_list(request: HttpRequest) -> HttpResponse:
    """List the pages behind a figure: ?schedule=…&week=…, ?person=…, ?actionable=1, ?manual=1."""
    form, scope = _filter_form(request)
    schedule_value = request.GET.get("schedule", "")
    no_schedule = schedule_value == "none"
    schedule_id = None if no_schedule else _int(schedule_value)
    person_id = _int(request.GET.get("person"))
    # A number that is not one would otherwise drop its filter and list every page silently.
    if schedule_value and not no_schedule and schedule_id is None:
        return HttpResponseBadRequest("Write schedule as a rotation's number, or schedule=none.")
    if request.GET.get("person") and person_id is None:
        return HttpResponseBadRequest("Write person as a person's number.")
    actionable = request.GET.get("actionable") == "1"
    manual = request.GET.get("manual") == "1"
    rows = drilldown.page_rows(
        window=scope.window,
        schedule_id=schedule_id,
        no_schedule=no_schedule,
        person_id=person_id,
        actionable=actionable,
        manual=manual,
    )
    which = []
    if actionable:
        which.append("actionable")
    if manual:
        which.append("that needed manual action")
    title = "Pages" if not which else f"Pages {' and '.join(which)}"
    if actionable and not manual:
        title = "Actionable pages"
    whose = []
    if no_schedule:
        whose.append("that reached no rotation (paged directly)")
    elif schedule_id is not None:
        whose.append(f"of rotation {_name_of(Schedule, schedule_id, 'name')}")
    if person_id is not None:
        user = User.objects.filter(pk=person_id).first()
        whose.append(f"to {display_name(user, fallback=str(person_id))}")
    description = (
        "Escalation and manual pages sent in the period"
        + (f" {' '.join(whose)}" if whose else "")
        + (f", {' and '.join(which)}" if which else "")
        + "."
    )
    return _drill(
        request,
        "health/pages.html",
        form=form,
        scope=scope,
        title=title,
        description=description,
        rows=rows,
        export_kind="pages",
    )


@require_http_methods(["GET", "HEAD"])
@metrics_reader
def alert_list(request: HttpRequest) -> HttpResponse:
    """List the alert episodes behind a figure: ?source=…&name=…&verdict=…, ?month=YYYY-MM."""
    form, scope = _filter_form(request)
    source_id = _int(request.GET.get("source"))
    if request.GET.get("source") and source_id is None:
        return HttpResponseBadRequest("Write source as an alert source's number.")
    name = request.GET.get("name") if "name" in request.GET else None
    verdict = request.GET.get("verdict", "")
    if verdict and verdict not in drilldown.ALERT_VERDICTS:
        return HttpResponseBadRequest(f"There is no alert verdict called {verdict!r}.")
    month_value = request.GET.get("month", "")
    month: date | None = parse_month(month_value) if month_value else None
    if month_value and month is None:
        return HttpResponseBadRequest("Write the month as 2026-11.")
    scope_text = None
    if month is not None:
        rows = drilldown.noisy_alert_rows(
            month=month, team=scope.team, source_id=source_id, name=name, verdict=verdict
        )
        scope_text = f"{month:%B %Y}" + (f" · team {scope.team.name}" if scope.team else "")
        period = f"fired in {month:%B %Y}"
    else:
        rows = drilldown.alert_rows(
            window=scope.window, source_id=source_id, name=name, verdict=verdict
        )
        period = "first seen in the period"
    what = f"“{name}”" if name else "Alert episodes"
    source = _name_of(AlertSource, source_id, "name")
    title = f"{what} from {source}" if source else what
    description = (
        f"Firing episodes {period}"
        + (f", {drilldown.ALERT_VERDICTS[verdict]}" if verdict else "")
        + "."
    )
    return _drill(
        request,
        "health/alerts.html",
        form=form,
        scope=scope,
        title=title,
        description=description,
        rows=rows,
        export_kind="alerts",
        scope_text=scope_text,
    )


# --- Export ------------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD"])
@metrics_reader
def export_csv(request: HttpRequest) -> HttpResponseBase:
    """Stream the incidents, pages or alert episodes of the period as CSV."""
    kind = request.GET.get("kind", "")
    if kind not in EXPORT_KINDS:
        return HttpResponseBadRequest("Export kind=incidents, kind=pages or kind=alerts.")
    _, scope = _filter_form(request)
    export_kind = cast(Kind, kind)
    response = StreamingHttpResponse(
        csv_lines(rows_csv(kind=export_kind, window=scope.window)),
        content_type="text/csv; charset=utf-8",
    )
    filename = csv_filename(kind=export_kind, window=scope.window)
    if scope.team:
        filename = filename.replace("health-", f"health-{scope.team.slug}-", 1)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- Weekly report -----------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD"])
@metrics_reader
def weekly_report(request: HttpRequest, team: str, week: str) -> HttpResponse:
    """Show a team's printable weekly report: the week against targets and the week before."""
    found = get_object_or_404(Team, slug=team)
    iso = parse_iso_week(week)
    if iso is None:
        raise Http404("No such ISO week.")
    report = weekly_report_build(team=found, iso_year=iso[0], iso_week=iso[1])
    return render(
        request,
        "health/report.html",
        {
            "report": report,
            "previous_url": report_path(
                team=found, iso_year=report.previous_week[0], iso_week=report.previous_week[1]
            ),
            "next_url": report_path(
                team=found, iso_year=report.next_week[0], iso_week=report.next_week[1]
            ),
            "dashboard_url": reverse("health:dashboard") + f"?team={found.slug}&week={week}",
        },
    )

"""Schedule pages: who is on call, two weeks ahead, overrides, and private calendar feeds.

Views parse input, call one service and render; the services decide what is allowed.
"""

from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from incidents.models import Incident
from incidents.selectors import incident_get
from incidents.views import forbidden, portal_reader
from portal.auth import is_responder
from portal.errors import ApplicationError, InvalidInputError, PermissionDeniedError
from portal.people import display_name

from . import ical, paging, selectors, services
from .forms import OverrideForm, PageMoreForm
from .models import Override, Page, Schedule
from .policies import (
    can_add_overrides,
    can_delete_override,
    can_manage_schedules,
    require_add_overrides,
)

DAYS_SHOWN = 14


def _schedule_or_404(slug: str) -> Schedule:
    try:
        return selectors.schedule_get(slug=slug)
    except Schedule.DoesNotExist:
        raise Http404("No such schedule.") from None


def _feed_url(request: HttpRequest, token: str) -> str:
    return request.build_absolute_uri(reverse("oncall:calendar_feed", kwargs={"token": token}))


@require_http_methods(["GET", "HEAD"])
@portal_reader
def schedule_list(request: HttpRequest) -> HttpResponse:
    """List schedules with who is on call now and the next handoff; the viewer's own shifts."""
    now = timezone.now()
    statuses = [
        selectors.schedule_oncall_status(schedule=schedule, at=now)
        for schedule in selectors.schedule_list()
    ]
    token = selectors.calendar_feed_token_of(user=request.user)  # type: ignore[arg-type]
    return render(
        request,
        "oncall/schedule_list.html",
        {
            "statuses": statuses,
            "my_shifts": selectors.user_shifts(
                user=request.user,  # type: ignore[arg-type]
                start=now,
                end=now + timedelta(days=DAYS_SHOWN),
            ),
            "days_shown": DAYS_SHOWN,
            "feed_url": _feed_url(request, token.token) if token else None,
            "may_manage": can_manage_schedules(request.user),
        },
    )


@require_http_methods(["GET", "HEAD"])
@portal_reader
def schedule_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Show one schedule: on call now, the next two weeks day by day, and its overrides."""
    return _render_detail(request, _schedule_or_404(slug))


def _render_detail(
    request: HttpRequest,
    schedule: Schedule,
    form: OverrideForm | None = None,
    status: int = 200,
) -> HttpResponse:
    now = timezone.now()
    override_refusal = ""
    if form is None and can_add_overrides(request.user, schedule):
        form = OverrideForm(actor=request.user)
    elif form is None and is_responder(request.user):
        # Say why rather than hide it: a responder of another team asks this team instead.
        try:
            require_add_overrides(request.user, schedule)
        except PermissionDeniedError as exc:
            override_refusal = exc.message
    overrides = [
        {"override": override, "may_delete": can_delete_override(request.user, override)}
        for override in selectors.schedule_upcoming_overrides(schedule=schedule, now=now)
    ]
    context = {
        "schedule": schedule,
        "status": selectors.schedule_oncall_status(schedule=schedule, at=now),
        "days": selectors.schedule_days(
            schedule=schedule,
            first_day=timezone.localdate(now),
            days=DAYS_SHOWN,
            zone=timezone.get_current_timezone(),  # type: ignore[arg-type]
        ),
        "layers": schedule.layers,  # type: ignore[attr-defined]
        "overrides": overrides,
        "form": form,
        "override_refusal": override_refusal,
        "may_manage": can_manage_schedules(request.user),
    }
    return render(request, "oncall/schedule_detail.html", context, status=status)


@require_POST
@portal_reader
def override_add(request: HttpRequest, slug: str) -> HttpResponse:
    """Add an override from the schedule page's form."""
    schedule = _schedule_or_404(slug)
    try:
        require_add_overrides(request.user, schedule)
    except PermissionDeniedError as exc:
        return forbidden(request, exc.message)
    form = OverrideForm(request.POST, actor=request.user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            override = services.override_create(
                schedule=schedule,
                user=data["user"],
                start=data["start"],
                end=data["end"],
                reason=data["reason"],
                actor=request.user,
            )
        except PermissionDeniedError as exc:
            return forbidden(request, exc.message)
        except InvalidInputError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            who = display_name(override.user)
            messages.success(request, f"Override added: {who} is on call for {schedule.name}.")
            return redirect("oncall:detail", slug=schedule.slug)
    messages.error(request, "The override was not added; see the form below.")
    return _render_detail(request, schedule, form=form, status=400)


@require_POST
@portal_reader
def override_delete(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Remove an override from the schedule page."""
    schedule = _schedule_or_404(slug)
    try:
        override = Override.objects.get(pk=pk, schedule=schedule)
    except Override.DoesNotExist:
        messages.error(request, "That override no longer exists.")
        return redirect("oncall:detail", slug=schedule.slug)
    try:
        services.override_delete(override=override, actor=request.user)
    except PermissionDeniedError as exc:
        return forbidden(request, exc.message)
    messages.success(request, "Override removed; the rotation applies again.")
    return redirect("oncall:detail", slug=schedule.slug)


@require_POST
@portal_reader
def calendar_feed_link(request: HttpRequest) -> HttpResponse:
    """Make the viewer's private calendar feed address, or replace it."""
    try:
        if request.POST.get("action") == "replace":
            services.calendar_feed_token_replace(user=request.user)  # type: ignore[arg-type]
            messages.success(request, "New calendar address made; the old one stopped working.")
        else:
            services.calendar_feed_token_get_or_create(user=request.user)  # type: ignore[arg-type]
            messages.success(request, "Your calendar address is ready; subscribe to it below.")
    except PermissionDeniedError as exc:
        return forbidden(request, exc.message)
    return redirect(reverse("oncall:list") + "#calendar-feed")


@require_http_methods(["GET", "HEAD"])
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """Serve a person's shifts as iCalendar; the token in the address is the only key."""
    user = selectors.calendar_feed_owner(token=token)
    if user is None:
        raise Http404("No such calendar.")
    now = timezone.now()
    body = ical.shifts_calendar(
        user=user,
        shifts=selectors.calendar_feed_shifts(user=user, now=now),
        domain=urlsplit(settings.FIREBREAK_BASE_URL).hostname or "firebreak",
        schedule_url=lambda shift: request.build_absolute_uri(
            reverse("oncall:detail", kwargs={"slug": shift.schedule.slug})
        ),
        now=now,
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="on-call.ics"'
    response["Cache-Control"] = "private, max-age=300"
    response["X-Robots-Tag"] = "noindex"
    return response


@require_POST
@portal_reader
def page_more(request: HttpRequest, pk: int) -> HttpResponse:
    """Page more people from the incident page's engagement panel."""
    try:
        incident = incident_get(pk=pk)
    except Incident.DoesNotExist:
        raise Http404("No such incident.") from None
    form = PageMoreForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose people, schedules or teams from the lists.")
    else:
        try:
            pages = paging.page_more(incident=incident, actor=request.user, targets=form.targets())
        except PermissionDeniedError as exc:
            return forbidden(request, exc.message)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            people = len({page.recipient_id for page in pages})
            messages.success(request, f"Paged {people} {'person' if people == 1 else 'people'}.")
    return redirect(reverse("incidents:detail", kwargs={"pk": incident.pk}) + "#engagement")


ANSWERS = {"yes": True, "no": False, "": None}


@require_POST
@portal_reader
def page_mark(request: HttpRequest, pk: int) -> HttpResponse:
    """Record whether a page was actionable and needed manual action."""
    page = get_object_or_404(Page.objects.select_related("incident"), pk=pk)
    actionable = request.POST.get("actionable", "")
    manual = request.POST.get("needed_manual_action", "")
    if actionable not in ANSWERS or manual not in ANSWERS:
        messages.error(request, "Answer yes, no, or leave the question open.")
    else:
        try:
            paging.page_mark(
                page=page,
                actor=request.user,
                actionable=ANSWERS[actionable],
                needed_manual_action=ANSWERS[manual],
            )
        except PermissionDeniedError as exc:
            return forbidden(request, exc.message)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Thanks: the page is marked for the on-call health review.")
    return redirect(reverse("incidents:detail", kwargs={"pk": page.incident_id}) + "#engagement")

"""Action item pages: my action items, one item's page, adding one, the quick status change.

Views parse input, call one service and render; the services decide what is allowed. Everything
works without JavaScript.
"""

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from incidents.models import Incident
from incidents.views import forbidden, portal_reader
from portal.errors import ApplicationError, InvalidInputError, PermissionDeniedError

from . import action_item_selectors as selectors
from .action_item_forms import ActionItemForm, ActionItemStatusForm
from .markdown import render_markdown
from .models import ActionItem, Postmortem
from .policies import can_edit_action_item
from .services.action_items import (
    action_item_create,
    action_item_set_status,
    action_item_update,
)


def postmortem_path(postmortem: Postmortem) -> str:
    """Return the postmortem's page."""
    return reverse("postmortems:detail", kwargs={"pk": postmortem.pk})


def _item_or_404(pk: int) -> ActionItem:
    try:
        return selectors.action_item_get(pk=pk)
    except ActionItem.DoesNotExist:
        raise Http404("No such action item.") from None


def _next_url(request: HttpRequest, fallback: str) -> str:
    """Return where to go back to: the form's `next` if it is on this site, else `fallback`."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return fallback


def _field_error(form: ActionItemForm, exc: InvalidInputError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


@require_http_methods(["GET", "HEAD"])
@portal_reader
def my_action_items(request: HttpRequest) -> HttpResponse:
    """List the signed-in person's open and in-progress items, then the ones they finished."""
    mine = selectors.action_items_of_owner(owner=request.user)  # type: ignore[arg-type]
    return render(
        request,
        "postmortems/action_item_mine.html",
        {
            "mine": mine,
            "status_choices": ActionItem.Status.choices,
            "here": request.get_full_path(),
        },
    )


def _render_item(
    request: HttpRequest, item: ActionItem, form: ActionItemForm | None = None, status: int = 200
) -> HttpResponse:
    may_edit = can_edit_action_item(request.user, item)
    if form is None and may_edit:
        form = ActionItemForm(initial=ActionItemForm.initial_for(item))
    return render(
        request,
        "postmortems/action_item_detail.html",
        {
            "item": item,
            "overdue": selectors.action_item_is_overdue(item),
            "description_html": render_markdown(item.description),
            "form": form if may_edit else None,
            "may_edit": may_edit,
            "status_choices": ActionItem.Status.choices,
            "postmortem_url": postmortem_path(item.postmortem) if item.postmortem else None,
            "here": request.get_full_path(),
        },
        status=status,
    )


@require_http_methods(["GET", "HEAD", "POST"])
@portal_reader
def action_item_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Show one action item; save its edited fields."""
    item = _item_or_404(pk)
    if request.method != "POST":
        return _render_item(request, item)
    if not can_edit_action_item(request.user, item):
        return forbidden(
            request,
            "Only the action item's owner, the postmortem's authors, the Incident Commander, "
            "managers and staff may change it.",
        )
    form = ActionItemForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            action_item_update(
                item=item,
                actor=request.user,
                title=data["title"],
                description=data["description"],
                owner=data["owner"],
                due_date=data["due_date"],
                priority=data["priority"],
                tracker_url=data["tracker_url"],
            )
        except PermissionDeniedError as exc:
            return forbidden(request, exc.message)
        except InvalidInputError as exc:
            _field_error(form, exc)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Saved “{data['title']}”.")
            return redirect("postmortems:action_item_edit", pk=item.pk)
    messages.error(request, "The action item was not saved; see the form below.")
    return _render_item(request, item, form=form, status=400)


@require_POST
@portal_reader
def action_item_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Change an item's status from the quick form next to it, then go back where it was."""
    item = _item_or_404(pk)
    back = _next_url(request, reverse("postmortems:action_item_edit", kwargs={"pk": item.pk}))
    form = ActionItemStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose open, in progress, done or won't do.")
        return redirect(back)
    try:
        item = action_item_set_status(
            item=item, status=form.cleaned_data["status"], actor=request.user
        )
    except PermissionDeniedError as exc:
        return forbidden(request, exc.message)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"“{item.title}” is {item.get_status_display().lower()}.")
    return redirect(back)


def _target(request: HttpRequest) -> tuple[Incident, Postmortem | None]:
    """Return the incident and postmortem the new item belongs to, from `postmortem`/`incident`."""
    data: Any = request.POST if request.method == "POST" else request.GET
    postmortem_id = data.get("postmortem") or ""
    incident_id = data.get("incident") or ""
    if postmortem_id.isdigit():
        postmortem = (
            Postmortem.objects.select_related("incident").filter(pk=int(postmortem_id)).first()
        )
        if postmortem is None:
            raise Http404("No such postmortem.")
        return postmortem.incident, postmortem
    if incident_id.isdigit():
        incident = Incident.objects.filter(pk=int(incident_id)).first()
        if incident is None:
            raise Http404("No such incident.")
        return incident, None
    raise Http404("Add action items from a postmortem or an incident.")


@require_http_methods(["GET", "HEAD", "POST"])
@portal_reader
def action_item_new(request: HttpRequest) -> HttpResponse:
    """Show the form for a new action item; create it and go back to the postmortem."""
    incident, postmortem = _target(request)
    fallback = (
        postmortem_path(postmortem)
        if postmortem
        else reverse("incidents:detail", kwargs={"pk": incident.pk})
    )
    form = ActionItemForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                item = action_item_create(
                    incident=incident,
                    postmortem=postmortem,
                    title=data["title"],
                    description=data["description"],
                    owner=data["owner"],
                    due_date=data["due_date"],
                    priority=data["priority"],
                    tracker_url=data["tracker_url"],
                    actor=request.user,
                )
            except PermissionDeniedError as exc:
                return forbidden(request, exc.message)
            except InvalidInputError as exc:
                _field_error(form, exc)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Action item added: “{item.title}”.")
                return redirect(_next_url(request, fallback))
        messages.error(request, "The action item was not added; see the form below.")
        status = 400
    return render(
        request,
        "postmortems/action_item_form.html",
        {
            "form": form,
            "incident": incident,
            "postmortem": postmortem,
            "back": _next_url(request, fallback),
        },
        status=status,
    )

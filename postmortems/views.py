"""The postmortem pages: list, the postmortem itself, its workflow, export and print.

Views parse input, call one service and render; services decide what is allowed. Every page
works without JavaScript; the live preview is an enhancement over the "Preview" button.
"""

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from incidents.models import Incident
from incidents.views import forbidden, portal_reader
from portal.errors import ApplicationError, InvalidInputError
from portal.people import display_name

from . import policies, selectors, services
from .blameless import postmortem_blame_hints
from .export import export_filename, postmortem_markdown
from .forms import (
    AuthorForm,
    DecideForm,
    ListFilterForm,
    MeetingForm,
    PreviewForm,
    ReviewRequestForm,
    RowForm,
    SectionsForm,
)
from .markdown import render_markdown
from .models import Postmortem, PostmortemTimelineRow, Review

LIST_PAGE_SIZE = 50
SECTION_LABELS = {
    "summary": "Incident Summary",
    "root_cause": "Root Cause",
    "contributing_factors": "Contributing Factors",
    "what_went_well": "What Went Well",
    "public_summary": "Public summary",
}


def _postmortem_or_404(pk: int) -> Postmortem:
    try:
        return selectors.postmortem_get(pk=pk)
    except Postmortem.DoesNotExist:
        raise Http404("No such postmortem.") from None


def _back(postmortem: Postmortem, anchor: str = "") -> HttpResponse:
    response = redirect("postmortems:detail", pk=postmortem.pk)
    if anchor:
        response["Location"] += f"#{anchor}"
    return response


def _errors_text(form: Any) -> str:
    parts = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else None
        label = label or (name.replace("_", " ").capitalize() if name != "__all__" else "")
        text = " ".join(str(error) for error in errors)
        parts.append(f"{label}: {text}" if label else text)
    return " ".join(parts)


# --- Pages --------------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD"])
@portal_reader
def postmortem_list(request: HttpRequest) -> HttpResponse:
    """List postmortems with their status and due date; overdue ones are flagged."""
    filter_form = ListFilterForm(request.GET or None)
    filters = filter_form.filters()
    now = timezone.now()
    page = Paginator(selectors.postmortem_list(**filters, now=now), LIST_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = [
        {"postmortem": pm, "overdue": selectors.postmortem_is_overdue(pm, now=now)}
        for pm in page.object_list
    ]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "postmortems/list.html",
        {
            "filter_form": filter_form,
            "page": page,
            "rows": rows,
            "filtered": bool(filters["status"] or filters["overdue"]),
            "query": query.urlencode(),
        },
    )


def _render_detail(
    request: HttpRequest,
    postmortem: Postmortem,
    *,
    sections_form: SectionsForm | None = None,
    previews: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    now = timezone.now()
    may_edit = policies.can_edit_postmortem(user, postmortem)
    editing = may_edit and not postmortem.is_published
    reviews = list(selectors.postmortem_reviews(postmortem=postmortem))
    my_review = next((review for review in reviews if review.reviewer_id == user.pk), None)
    deciding = my_review is not None and postmortem.status == Postmortem.Status.IN_REVIEW
    if editing and sections_form is None:
        sections_form = SectionsForm(postmortem=postmortem)
    rendered = {name: render_markdown(getattr(postmortem, name)) for name in SECTION_LABELS}
    if editing and previews is None:
        previews = rendered
    timeline = selectors.postmortem_timeline(postmortem=postmortem, include_hidden=editing)
    context = {
        "postmortem": postmortem,
        "incident": postmortem.incident,
        "may_edit": may_edit,
        "editing": editing,
        "overdue": selectors.postmortem_is_overdue(postmortem, now=now),
        "rendered": rendered,
        "sections_form": sections_form if editing else None,
        "previews": previews or {},
        "timeline": [
            {
                "item": item,
                "form": RowForm(
                    initial={"hidden": item.hidden, "annotation": item.annotation},
                    auto_id=f"row{item.row.pk}_%s",
                )
                if editing
                else None,
            }
            for item in timeline
        ],
        "hidden_rows": sum(1 for item in timeline if item.hidden),
        "reviews": reviews,
        "my_review": my_review,
        "decide_form": DecideForm(
            initial={
                "decision": my_review.decision
                if my_review and my_review.decision != Review.Decision.PENDING
                else None,
                "comment": my_review.comment if my_review else "",
            }
        )
        if deciding
        else None,
        "approvals": sum(1 for review in reviews if review.decision == Review.Decision.APPROVED),
        "approvals_required": services.approvals_required(),
        "publish_blocker": services.publish_blocker(postmortem) if editing else "",
        "review_form": ReviewRequestForm(postmortem=postmortem) if editing else None,
        "meeting_form": MeetingForm(
            initial={
                "at": postmortem.review_meeting_at,
                "attendees": list(postmortem.review_meeting_attendees.all()),
            }
        )
        if editing
        else None,
        "meeting_deadline": selectors.review_meeting_deadline(postmortem),
        "meeting_late": selectors.review_meeting_late(postmortem, now=now),
        "author_form": AuthorForm(postmortem=postmortem) if editing else None,
        "blame_hints": postmortem_blame_hints(postmortem)
        if not postmortem.is_published and (may_edit or my_review is not None)
        else [],
        "public_summary": selectors.postmortem_public_summary_state(postmortem=postmortem)
        if postmortem.is_published and postmortem.public_summary.strip()
        else None,
        "section_labels": SECTION_LABELS,
    }
    return render(request, "postmortems/detail.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@portal_reader
def postmortem_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Show the postmortem; its editors edit the sections here (Save, or Preview first)."""
    postmortem = _postmortem_or_404(pk)
    if request.method != "POST":
        # Events the incident gained since the last visit become rows now.
        services.postmortem_sync_timeline(postmortem=postmortem)
        return _render_detail(request, postmortem)
    if not policies.can_edit_postmortem(request.user, postmortem):
        return forbidden(
            request, "Only the postmortem's authors, the IC, managers and staff edit it."
        )
    form = SectionsForm(request.POST, postmortem=postmortem)
    if not form.is_valid():
        messages.error(request, "The postmortem was not saved: " + _errors_text(form))
        return _render_detail(request, postmortem, sections_form=form, status=400)
    if request.POST.get("action") == "preview":
        previews = {
            name: render_markdown(form.cleaned_data[name]) for name in SectionsForm.MARKDOWN_FIELDS
        }
        messages.info(request, "This is a preview; nothing is saved yet.")
        return _render_detail(request, postmortem, sections_form=form, previews=previews)
    try:
        services.postmortem_update(postmortem=postmortem, actor=request.user, **form.cleaned_data)
    except InvalidInputError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        messages.error(request, exc.message)
        return _render_detail(request, postmortem, sections_form=form, status=400)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _back(postmortem)
    messages.success(request, "Postmortem saved.")
    return _back(postmortem)


@require_POST
@portal_reader
def postmortem_preview(request: HttpRequest) -> HttpResponse:
    """Return the text rendered and sanitized as the page would show it (live preview)."""
    form = PreviewForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_errors_text(form), status=400, content_type="text/plain")
    return HttpResponse(
        render_markdown(form.cleaned_data["text"]), content_type="text/html; charset=utf-8"
    )


@require_POST
@portal_reader
def postmortem_start(request: HttpRequest, incident_pk: int) -> HttpResponse:
    """Start a postmortem of the incident by hand (or open the one it has)."""
    incident = Incident.objects.filter(pk=incident_pk).first()
    if incident is None:
        raise Http404("No such incident.")
    existed = selectors.postmortem_for_incident(incident=incident)
    try:
        postmortem = services.postmortem_create(incident=incident, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("incidents:detail", pk=incident.pk)
    if existed is None:
        messages.success(request, f"Postmortem of {incident.reference} started. You are an author.")
    else:
        messages.info(request, f"{incident.reference} has a postmortem already; here it is.")
    return _back(postmortem)


def _act(request: HttpRequest, postmortem: Postmortem, call: Any, anchor: str = "") -> HttpResponse:
    """Run the one service call; report its outcome as a message and go back to the page."""
    try:
        done = call()
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if done:
            messages.success(request, done)
    return _back(postmortem, anchor)


@require_POST
@portal_reader
def timeline_row_update(request: HttpRequest, pk: int, row_pk: int) -> HttpResponse:
    """Hide, show or annotate one timeline row."""
    postmortem = _postmortem_or_404(pk)
    row = PostmortemTimelineRow.objects.filter(pk=row_pk, postmortem=postmortem).first()
    if row is None:
        raise Http404("No such timeline row.")
    form = RowForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The row was not changed: " + _errors_text(form))
        return _back(postmortem, f"row-{row_pk}")

    def call() -> str:
        services.postmortem_row_update(
            row=row,
            actor=request.user,
            hidden=form.cleaned_data["hidden"],
            annotation=form.cleaned_data["annotation"],
        )
        return "Timeline row saved."

    return _act(request, postmortem, call, f"row-{row_pk}")


@require_POST
@portal_reader
def postmortem_submit(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask reviewers to review the postmortem."""
    postmortem = _postmortem_or_404(pk)
    form = ReviewRequestForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Nobody was asked: " + _errors_text(form))
        return _back(postmortem, "workflow")
    reviewers = list(form.cleaned_data["reviewers"])

    def call() -> str:
        services.postmortem_submit(postmortem=postmortem, actor=request.user, reviewers=reviewers)
        names = ", ".join(display_name(r) for r in reviewers)
        return f"Review requested from {names}." if names else "The postmortem is in review."

    return _act(request, postmortem, call, "workflow")


@require_POST
@portal_reader
def review_decide(request: HttpRequest, pk: int, review_pk: int) -> HttpResponse:
    """Record the signed-in reviewer's decision."""
    postmortem = _postmortem_or_404(pk)
    review = Review.objects.filter(pk=review_pk, postmortem=postmortem).first()
    if review is None:
        raise Http404("No such review.")
    form = DecideForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Nothing was decided: " + _errors_text(form))
        return _back(postmortem, "workflow")

    def call() -> str:
        decided = services.review_decide(
            review=review,
            actor=request.user,
            decision=form.cleaned_data["decision"],
            comment=form.cleaned_data["comment"],
        )
        if decided.decision == Review.Decision.APPROVED:
            return "You approved the postmortem."
        return "You asked for changes; the authors were told."

    return _act(request, postmortem, call, "workflow")


@require_POST
@portal_reader
def postmortem_publish(request: HttpRequest, pk: int) -> HttpResponse:
    """Publish the reviewed postmortem."""
    postmortem = _postmortem_or_404(pk)

    def call() -> str:
        published = services.postmortem_publish(postmortem=postmortem, actor=request.user)
        state = selectors.postmortem_public_summary_state(postmortem=published)
        if published.public_summary.strip() and state.incident_is_public:
            if state.posted:
                return "Postmortem published; its public summary is on the status page."
            messages.warning(
                request,
                "The public summary is not on the status page yet: the incident's Incident "
                "Commander or Communicator can post it from this page.",
            )
        return "Postmortem published. It is read-only from now on."

    return _act(request, postmortem, call)


@require_POST
@portal_reader
def public_summary_post(request: HttpRequest, pk: int) -> HttpResponse:
    """Post the published postmortem's public summary to the status page."""
    postmortem = _postmortem_or_404(pk)

    def call() -> str:
        services.postmortem_public_summary_post(postmortem=postmortem, actor=request.user)
        return "The public summary is on the status page."

    return _act(request, postmortem, call)


@require_POST
@portal_reader
def review_meeting_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    """Schedule or move the review meeting; attendees get a calendar invitation."""
    postmortem = _postmortem_or_404(pk)
    form = MeetingForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The meeting was not scheduled: " + _errors_text(form))
        return _back(postmortem, "meeting")
    rescheduling = postmortem.review_meeting_scheduled_at is not None

    def call() -> str:
        services.review_meeting_schedule(
            postmortem=postmortem,
            actor=request.user,
            at=form.cleaned_data["at"],
            attendees=form.cleaned_data["attendees"],
        )
        if rescheduling:
            return "Review meeting updated; attendees got the new invitation."
        return "Review meeting scheduled; attendees got an invitation."

    return _act(request, postmortem, call, "meeting")


@require_POST
@portal_reader
def author_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Add authors to the postmortem."""
    postmortem = _postmortem_or_404(pk)
    form = AuthorForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Nobody was added: " + _errors_text(form))
        return _back(postmortem)

    def call() -> str:
        services.postmortem_author_add(
            postmortem=postmortem, actor=request.user, users=form.cleaned_data["users"]
        )
        return "Authors added."

    return _act(request, postmortem, call)


@require_http_methods(["GET", "HEAD"])
@portal_reader
def postmortem_export(request: HttpRequest, pk: int) -> HttpResponse:
    """Download the postmortem as a Markdown file in the runbook's template."""
    postmortem = _postmortem_or_404(pk)
    services.postmortem_sync_timeline(postmortem=postmortem)
    response = HttpResponse(
        postmortem_markdown(postmortem=postmortem), content_type="text/markdown; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{export_filename(postmortem)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_http_methods(["GET", "HEAD"])
@portal_reader
def postmortem_print(request: HttpRequest, pk: int) -> HttpResponse:
    """Show the postmortem as one printable document (hidden rows left out)."""
    postmortem = _postmortem_or_404(pk)
    services.postmortem_sync_timeline(postmortem=postmortem)
    return render(
        request,
        "postmortems/print.html",
        {
            "postmortem": postmortem,
            "incident": postmortem.incident,
            "rendered": {
                name: render_markdown(getattr(postmortem, name)) for name in SECTION_LABELS
            },
            "timeline": selectors.postmortem_timeline(postmortem=postmortem, include_hidden=False),
            "action_items": list(selectors.postmortem_action_items(postmortem=postmortem)),
            "overdue": selectors.postmortem_is_overdue(postmortem),
        },
    )

"""The acknowledge link: GET shows a confirm page (mail scanners follow links); POST acts."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from portal.errors import ApplicationError

from . import acks


def _refused(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    if isinstance(exc, acks.IncidentAlreadyResolved):
        return render(
            request,
            "oncall/ack_resolved.html",
            {"page": exc.page, "message": exc.message},
            status=exc.status_code,
        )
    return render(
        request, "oncall/ack_refused.html", {"message": exc.message}, status=exc.status_code
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def acknowledge_link(request: HttpRequest, token: str) -> HttpResponse:
    """Confirm, then acknowledge the paged incident as the paged person."""
    try:
        if request.method == "POST":
            page = acks.page_acknowledge(token=token)
            return render(request, "oncall/ack_done.html", {"page": page})
        page = acks.page_from_ack_token(token=token)
    except ApplicationError as exc:
        return _refused(request, exc)
    return render(request, "oncall/ack_confirm.html", {"page": page, "token": token})

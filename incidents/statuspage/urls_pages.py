"""Public pages, Statuspage v2 JSON and feeds."""

from django.http import HttpResponse
from django.urls import path


def _placeholder(request):  # replaced by the public page
    return HttpResponse("status page")


urlpatterns = [path("", _placeholder, name="page")]

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from portal.forms import ProfileForm
from portal.models import UserProfile


def home(request: HttpRequest) -> HttpResponse:
    return redirect("incidents:list")


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    instance, _ = UserProfile.objects.get_or_create(user=request.user)
    form = ProfileForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Saved. Times are now shown in " + instance.time_zone + ".")
        return redirect("profile")
    return render(request, "registration/profile.html", {"form": form})

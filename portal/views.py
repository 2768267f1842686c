from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from rest_framework.authtoken.models import Token

from portal import services
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
    has_token = Token.objects.filter(user=request.user).exists()
    return render(request, "registration/profile.html", {"form": form, "has_token": has_token})


@require_POST
@login_required
def api_token(request: HttpRequest) -> HttpResponse:
    """Issue (or revoke) the signed-in person's API token; a new one is shown once."""
    if request.POST.get("action") == "revoke":
        if services.api_token_revoke(user=request.user):  # type: ignore[arg-type]
            messages.success(request, "API token revoked: clients using it get 401 now.")
        return redirect("profile")
    token = services.api_token_rotate(user=request.user)  # type: ignore[arg-type]
    messages.success(
        request,
        f"New API token: {token.key} — copy it now, it is not shown again. "
        "Send it as the header “Authorization: Token <key>”. Any previous token stopped working.",
    )
    return redirect("profile")

"""Subscribe, confirm and unsubscribe: public pages that work without JavaScript.

Every answer to a subscribe request is the same whatever the address's state, and the one-click
unsubscribe endpoint (RFC 8058) takes a POST without a CSRF token: the token in its URL is
what authenticates it.
"""

import logging
from typing import Any

from django import forms
from django.conf import settings
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from portal.errors import ApplicationError, InvalidInputError

from . import subscriptions
from .middleware import UNAVAILABLE
from .models import Component, PageSettings, Subscriber
from .selectors import page_settings_get

logger = logging.getLogger(__name__)


class ComponentChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Component) -> str:  # type: ignore[override]
        return f"{obj.group.name}: {obj.name}" if obj.group else obj.name


def _components_field() -> ComponentChoiceField:
    return ComponentChoiceField(
        queryset=Component.objects.select_related("group").order_by(
            F("group__position").asc(nulls_last=True), "group__name", "position", "name"
        ),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Only these components",
        help_text="Leave all unticked to hear about everything.",
    )


class EmailSubscribeForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "size": 40}),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["components"] = _components_field()


class WebhookSubscribeForm(forms.Form):
    url = forms.URLField(
        label="Webhook URL",
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"size": 60, "placeholder": "https://"}),
        help_text="We POST a signed JSON message to it on every update.",
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["components"] = _components_field()


def client_ip(request: HttpRequest) -> str:
    """Return the client's address, from X-Forwarded-For only behind that many trusted proxies."""
    hops = int(getattr(settings, "FIREBREAK_TRUSTED_PROXY_HOPS", 0))
    if hops:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return str(request.META.get("REMOTE_ADDR", ""))


def _too_many(
    request: HttpRequest, page: PageSettings, exc: subscriptions.RateLimited
) -> HttpResponse:
    response = render(
        request,
        "statuspage/public/subscribe_limited.html",
        {"page": page, "message": exc.message},
        status=429,
    )
    response["Retry-After"] = str(exc.retry_after)
    return response


def _unavailable() -> HttpResponse:
    """Answer 503 without the database or the cache: subscribing needs both, and a retry later
    will work (the form's data is in the visitor's browser, nothing was stored)."""
    response = HttpResponse(
        render_to_string("statuspage/public/subscribe_unavailable.html", {"page": None}),
        status=503,
    )
    response["Retry-After"] = "120"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        # A GET that fails is answered from the saved copy (StatusSnapshotFallbackMiddleware).
        return _subscribe(request)
    try:
        return _subscribe(request)
    except UNAVAILABLE:
        logger.warning(
            "Subscribing failed: the database or the cache is unreachable.", exc_info=True
        )
        return _unavailable()


def _subscribe(request: HttpRequest) -> HttpResponse:
    page = page_settings_get()
    email_form = EmailSubscribeForm(prefix="email")
    webhook_form = WebhookSubscribeForm(prefix="webhook")
    active = "email"
    if request.method == "POST":
        try:
            subscriptions.subscribe_rate_check_client(client_ip=client_ip(request))
            if request.POST.get("kind") == "webhook":
                active = "webhook"
                webhook_form = WebhookSubscribeForm(request.POST, prefix="webhook")
                if webhook_form.is_valid():
                    url = webhook_form.cleaned_data["url"]
                    subscriptions.subscribe_rate_check_address(address=url)
                    try:
                        subscriber = subscriptions.subscriber_webhook_subscribe(
                            url=url, components=list(webhook_form.cleaned_data["components"])
                        )
                    except InvalidInputError as exc:
                        webhook_form.add_error("url", exc.message)
                    else:
                        return _webhook_subscribed(request, page, subscriber)
            else:
                email_form = EmailSubscribeForm(request.POST, prefix="email")
                if email_form.is_valid():
                    email = email_form.cleaned_data["email"]
                    subscriptions.subscribe_rate_check_address(address=email)
                    subscriptions.subscriber_email_subscribe(
                        email=email, components=list(email_form.cleaned_data["components"])
                    )
                    return redirect("status:subscribe-sent")
        except subscriptions.RateLimited as exc:
            return _too_many(request, page, exc)
    return render(
        request,
        "statuspage/public/subscribe.html",
        {
            "page": page,
            "email_form": email_form,
            "webhook_form": webhook_form,
            "active": active,
        },
        status=400 if request.method == "POST" else 200,
    )


def _webhook_subscribed(
    request: HttpRequest, page: PageSettings, subscriber: Subscriber
) -> HttpResponse:
    # The secret is shown in this response only: it is not stored in a URL or a session.
    return render(
        request,
        "statuspage/public/subscribe_webhook.html",
        {
            "page": page,
            "subscriber": subscriber,
            "unsubscribe_url": subscriptions.unsubscribe_url(subscriber, page=page),
        },
    )


@never_cache
@require_http_methods(["GET"])
def subscribe_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "statuspage/public/subscribe_sent.html", {"page": page_settings_get()})


@never_cache
@require_http_methods(["GET", "POST"])
def subscribe_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Show a confirm button (mail scanners follow links with GET); confirm on POST."""
    subscriber = get_object_or_404(Subscriber, token=token, kind=Subscriber.Kind.EMAIL)
    page = page_settings_get()
    context: dict[str, Any] = {"page": page, "subscriber": subscriber}
    if request.method == "POST":
        try:
            context["subscriber"] = subscriptions.subscriber_confirm(subscriber=subscriber)
        except ApplicationError as exc:
            context["error"] = exc.message
            return render(
                request, "statuspage/public/subscribe_confirm.html", context, status=exc.status_code
            )
        return render(request, "statuspage/public/subscribe_confirmed.html", context)
    return render(request, "statuspage/public/subscribe_confirm.html", context)


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """Show an unsubscribe button on GET; unsubscribe on any POST, including RFC 8058 one-click."""
    page = page_settings_get()
    subscriber = Subscriber.objects.filter(token=token).first()
    if subscriber is None:
        return render(
            request, "statuspage/public/unsubscribe_invalid.html", {"page": page}, status=404
        )
    context = {"page": page, "subscriber": subscriber}
    if request.method == "POST":
        subscriptions.subscriber_unsubscribe(subscriber=subscriber)
        return render(request, "statuspage/public/unsubscribe_done.html", context)
    return render(request, "statuspage/public/unsubscribe.html", context)

"""Forms of the runbook and job pages: typing only; the services decide what is allowed.

Each job form carries a hidden `request_key` made when the form is rendered, so a double
submit makes one job.
"""

import uuid
from typing import Any

from django import forms

from .models import JobKind, KubernetesTarget
from .selectors import Choices

K = JobKind


class JobRequestForm(forms.Form):
    """One job on one target (and one Deployment, for the Deployment kinds)."""

    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    target = forms.IntegerField(widget=forms.HiddenInput)
    kind = forms.ChoiceField(choices=JobKind.choices, widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        target: KubernetesTarget,
        kind: str,
        deployment: str = "",
        choices: Choices | None = None,
        configmap_path: str = "",
        pods: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        slug = f"t{target.pk}-{kind}" + (f"-{deployment}" if deployment else "")
        slug += f"-{configmap_path}" if configmap_path else ""
        slug = "".join(char if char.isalnum() or char in "-_" else "-" for char in slug)
        kwargs.setdefault("auto_id", f"id_{slug}_%s")
        initial = kwargs.setdefault("initial", {})
        initial.setdefault("request_key", str(uuid.uuid4()))
        initial.update({"target": target.pk, "kind": kind})
        super().__init__(*args, **kwargs)
        self.job_target = target
        self.job_kind = kind
        self.deployment_name = deployment
        self.slug = slug
        self.choices = choices or Choices()
        self.pods = pods or []
        options = self.choices.options
        if deployment:
            self.fields["deployment"] = forms.CharField(
                widget=forms.HiddenInput, initial=deployment
            )
        if kind == K.ROLLBACK:
            if options:
                self.fields["to_revision"] = forms.TypedChoiceField(
                    label="Revision",
                    choices=[("", "The previous revision"), *options],
                    coerce=int,
                    empty_value=None,
                    required=False,
                )
            else:
                self.fields["to_revision"] = forms.IntegerField(
                    label="Revision",
                    min_value=1,
                    required=False,
                    help_text="Empty: the previous revision.",
                )
        elif kind == K.POD_DETAIL:
            self.fields["pod"] = forms.CharField(
                label="Pod",
                max_length=253,
                widget=forms.TextInput(attrs={"list": f"pods-{slug}"}),
                help_text="Suggestions come from the latest diagnostics snapshot."
                if pods
                else "Run the diagnostics snapshot to get suggestions.",
            )
        elif kind == K.IMAGE_PIN:
            self.fields["container"] = forms.CharField(
                label="Container", max_length=63, initial=deployment
            )
            self.fields["image"] = forms.CharField(
                label="Image",
                max_length=300,
                help_text="With its tag or digest, e.g. myrepo/payments-api:sha-abc123.",
            )
        elif kind == K.DELETE_NODE:
            self.fields["node"] = forms.CharField(label="Node", max_length=253)
        elif kind == K.ARGO_ROLLBACK:
            self.fields["history_id"] = _choice_or_number("History entry", options)
        elif kind == K.HELM_ROLLBACK:
            self.fields["revision"] = _choice_or_number("Revision", options)
        elif kind == K.CONFIGMAP_RESTORE:
            self.fields["path"] = forms.CharField(widget=forms.HiddenInput, initial=configmap_path)
            if options:
                self.fields["revision"] = forms.ChoiceField(
                    label="Git revision", choices=options, initial=_previous(options)
                )
            else:
                self.fields["revision"] = forms.CharField(
                    label="Git revision",
                    max_length=64,
                    help_text="A commit id, or HEAD~1.",
                )

    def params(self) -> dict[str, Any]:
        """Return the job's parameters from the cleaned form."""
        skip = {"request_key", "target", "kind"}
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if name not in skip and value not in (None, "")
        }

    def visible(self) -> list[forms.BoundField]:
        """Return the fields a person fills in."""
        return [field for field in self if not field.is_hidden]


def _choice_or_number(label: str, options: list[tuple[str, str]]) -> forms.Field:
    if options:
        return forms.TypedChoiceField(
            label=label, choices=options, coerce=int, initial=_previous(options)
        )
    return forms.IntegerField(label=label, min_value=0)


def _previous(options: list[tuple[str, str]]) -> str | None:
    # Histories are listed newest (the live one) first; preselecting it would make the
    # one-click preview fail with "already at that revision", so offer the one before it.
    return options[1][0] if len(options) > 1 else None


class RunbookFlagForm(forms.Form):
    """Say what the runbook is missing."""

    note = forms.CharField(
        label="What needs an update?",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
    )

"""Admin forms: credentials are write-only, kinds come from the registry."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from keys import upstreams
from keys.kinds import provider_kinds
from keys.models import BUDGET_FIELDS, Provider, Team, VirtualKey
from keys.services import clean_models


class ProviderForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=())
    # Set by the admin from the user's `keys.change_provider_endpoint` permission.
    may_move_endpoint = False

    class Meta:
        model = Provider
        fields = ["slug", "kind", "upstream_url", "options", "allow_passthrough"]
        help_texts = {
            "upstream_url": "The provider's full endpoint as it documents it, "
            "path and query included, e.g. wss://r.openai.azure.com/openai/"
            "realtime?api-version=2025-04-01-preview&deployment=rt. Blank: "
            "its public endpoint.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kind = self.fields["kind"]
        assert isinstance(kind, forms.ChoiceField)  # declared above
        kind.choices = [(name, name) for name in provider_kinds.kinds()]
        # Where the provider connects before this form changes anything.
        self.destination_before = (
            self.instance.destination if self.instance.pk is not None else ""
        )

    def clean(self) -> dict[str, Any]:
        """Moving an existing provider elsewhere takes the endpoint permission:
        its keys' credentials would follow it."""
        super().clean()
        cleaned = self.cleaned_data
        if self.instance.pk is None or self.may_move_endpoint:
            return cleaned
        after = upstreams.destination(
            cleaned.get("kind", self.instance.kind),
            cleaned.get("upstream_url", self.instance.upstream_url),
            cleaned.get("options") or {},
        )
        if after != self.destination_before:
            raise ValidationError(
                "Only a superuser, or a user with the permission “Can change "
                "where a provider connects”, may change where this provider "
                "connects (its keys' credentials go there).",
                code="endpoint_permission",
            )
        return cleaned


class ModelListField(forms.CharField):
    """A comma-separated list of model names (a trailing * matches a prefix)."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        return clean_models((value or "").split(","))


class VirtualKeyForm(forms.ModelForm):
    credential = forms.CharField(
        label="Provider API key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted; never shown again.",
    )
    allowed_models = ModelListField(
        required=False,
        help_text="Comma-separated, e.g. gpt-realtime, gpt-realtime-mini*. "
        "Empty: any model.",
    )

    class Meta:
        model = VirtualKey
        fields = [
            "name",
            "provider",
            "team",
            "allowed_models",
            "max_concurrent_sessions",
            "sessions_per_minute",
            "max_session_seconds",
            "idle_timeout_seconds",
            "not_before",
            "expires_at",
            *BUDGET_FIELDS,
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            credential = self.fields["credential"]
            credential.required = False
            credential.label = "Replace provider API key"
            credential.help_text = "Leave blank to keep the current one."
            if self.instance.credential_is_stale():
                credential.help_text = (
                    "The provider connects elsewhere than when this API key was "
                    "entered: the key is refused until you enter it again."
                )

    def clean(self) -> dict[str, Any]:
        """A key moved to another provider needs the credential entered again: a
        credential goes only where it was entered for."""
        super().clean()
        cleaned = self.cleaned_data
        if (
            self.instance.pk is not None
            and "provider" in self.changed_data
            and not cleaned.get("credential")
        ):
            self.add_error(
                "credential",
                "Enter the provider API key for the new provider: a key's "
                "credential is sent only where it was entered for.",
            )
        return cleaned


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name", *BUDGET_FIELDS]

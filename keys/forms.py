"""Admin forms: credentials are write-only, kinds come from the registry."""

from __future__ import annotations

from typing import Any

from django import forms

from keys.kinds import provider_kinds
from keys.models import Provider, VirtualKey
from keys.services import clean_models


class ProviderForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=())

    class Meta:
        model = Provider
        fields = ["slug", "kind", "upstream_url", "options"]
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
            "allowed_models",
            "max_concurrent_sessions",
            "expires_at",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["credential"].required = False
            self.fields["credential"].label = "Replace provider API key"
            self.fields["credential"].help_text = "Leave blank to keep the current one."

"""Azure OpenAI realtime: OpenAI's protocol at a resource's own endpoint.

GA:      wss://{resource}.openai.azure.com/openai/v1/realtime?model={deployment}
preview: wss://{resource}.openai.azure.com/openai/realtime
             ?api-version={version}&deployment={deployment}
The key goes in the `api-key` header (or, with auth=bearer, an Entra token as
`Authorization: Bearer`). The provider row names the resource, the API style,
the preview api-version and, optionally, a model -> deployment mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from realtime.providers.base import (
    ClientRoute,
    ConnectRequest,
    OptionsError,
    Query,
    UpstreamTarget,
    join_query,
    query_value,
    without,
)
from realtime.providers.openai import OpenAIAdapter

DEFAULT_PREVIEW_VERSION = "2025-04-01-preview"
_STYLES = ("ga", "preview")


class AzureOpenAIAdapter(OpenAIAdapter):
    """One Azure OpenAI resource; deployments stand for models."""

    kind = "azure"
    default_url = ""  # built from the resource name
    credential_header = "api-key"
    # The Azure OpenAI SDKs, GA and preview (OpenAI's subprotocols and dialects).
    client_routes = (ClientRoute("openai/v1/realtime"), ClientRoute("openai/realtime"))
    checked_params = ("model", "deployment")

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return (
            "protocol",
            "resource",
            "api_style",
            "api_version",
            "deployments",
            "auth",
        )

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> None:
        super().validate_options(options)
        if options.get("api_style", "ga") not in _STYLES:
            raise OptionsError("api_style must be 'ga' or 'preview'.")
        if options.get("auth", "api-key") not in ("api-key", "bearer"):
            raise OptionsError("auth must be 'api-key' or 'bearer'.")
        deployments = options.get("deployments", {})
        if not isinstance(deployments, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in deployments.items()
        ):
            raise OptionsError("deployments must map model names to deployment names.")
        resource = options.get("resource", "")
        if resource and not str(resource).replace("-", "").isalnum():
            raise OptionsError("resource must be an Azure resource name.")

    def upstream_url(self, configured_url: str, options: Mapping[str, Any]) -> str:
        if configured_url:
            return configured_url
        resource = options.get("resource")
        if not resource:
            raise OptionsError("an azure provider needs an upstream URL or a resource")
        return f"wss://{resource}.openai.azure.com"

    def handshake_model(self, query: Query, options: Mapping[str, Any]) -> str | None:
        named = query_value(query, "model") or query_value(query, "deployment")
        return named or None  # None: reported in `session.created`

    def auth_headers(self, request: ConnectRequest) -> list[tuple[str, str]]:
        secret = request.credential.reveal()
        if request.options.get("auth", "api-key") == "bearer":
            return [("Authorization", f"Bearer {secret}")]
        return [("api-key", secret)]

    def target(self, request: ConnectRequest) -> UpstreamTarget:
        options = request.options
        model = self.handshake_model(request.query, options) or ""
        deployment = options.get("deployments", {}).get(model, model)
        rest = without(request.query, "model", "deployment", "api-version")
        if options.get("api_style", "ga") == "preview":
            version = options.get("api_version") or DEFAULT_PREVIEW_VERSION
            query: Query = (("api-version", version), ("deployment", deployment), *rest)
            url = join_query(request.base_url, query, path="/openai/realtime")
        else:
            query = (("model", deployment), *rest)
            url = join_query(request.base_url, query, path="/openai/v1/realtime")
        return UpstreamTarget(url=url, headers=tuple(self._headers(request)))

    def reported_aliases(self, options: Mapping[str, Any]) -> Mapping[str, str]:
        """A deployment the provider reports stands for the model mapped to it."""
        deployments = options.get("deployments", {})
        return {deployment: model for model, deployment in deployments.items()}

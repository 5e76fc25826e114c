"""Azure OpenAI realtime: OpenAI's protocol at a resource's own endpoint.

GA:      wss://{resource}.openai.azure.com/openai/v1/realtime?model={deployment}
preview: wss://{resource}.openai.azure.com/openai/realtime
             ?api-version={version}&deployment={deployment}
(learn.microsoft.com/azure/foundry/openai/how-to/realtime-audio-websockets, and
MicrosoftDocs/azure-ai-docs commit d7c37bc: "api-version ... (Preview version
only)".) The key goes in the `api-key` header (or, with auth=bearer, an Entra
token as `Authorization: Bearer`).

The provider row's URL is either endpoint as pasted from the portal, its query
included, or a bare host (`wss://r.openai.azure.com`, as rows saved before this
rule hold); blank, the host is built from the `resource` option. The URL's path
decides the style: a path ending in /openai/v1/realtime is GA, one ending in
/openai/realtime is preview; /openai/v1 (the v1 API's base URL) is completed to
GA, and only /openai or a bare host gets the path of the `api_style` option
(default GA) appended. An `api_style` that contradicts the URL's path, or a path
to some other Azure OpenAI endpoint, is refused when the row is saved (and at
connect time, as a misconfigured provider). `api_version` is the preview
api-version when neither the URL nor the client names one; `deployments` maps a
client's model name to a deployment. Parameters merge as in every adapter (see
providers.base): the client's model or deployment, mapped, overrides the URL's;
a preview client's api-version overrides the configured one; on GA a client's
api-version is dropped (the GA path takes none), the URL's is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from realtime.providers.base import (
    ClientRoute,
    ConnectRequest,
    OptionsError,
    Query,
    UpstreamTarget,
    join_query,
    query_value,
    url_query,
    without,
)
from realtime.providers.openai import OpenAIAdapter

DEFAULT_PREVIEW_VERSION = "2025-04-01-preview"
_STYLES = ("ga", "preview")
# The documented path of each style.
_PATHS = {"ga": "/openai/v1/realtime", "preview": "/openai/realtime"}


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

    @classmethod
    def validate_url(cls, url: str, options: Mapping[str, Any]) -> None:
        super().validate_url(url, options)
        style, _ = endpoint(url, options)
        given = query_value(url_query(url), "api-version")
        configured = options.get("api_version")
        if style == "preview" and given and configured and given != configured:
            raise OptionsError(
                f"The URL names api-version {given!r} and the options name "
                f"{configured!r}; keep one."
            )

    def upstream_url(self, configured_url: str, options: Mapping[str, Any]) -> str:
        if configured_url:
            return configured_url
        resource = options.get("resource")
        if not resource:
            raise OptionsError("an azure provider needs an upstream URL or a resource")
        return f"wss://{resource}.openai.azure.com"

    def interface_url(
        self,
        configured_url: str,
        options: Mapping[str, Any],
        relative_path: str,
        *,
        http: bool = False,
    ) -> str:
        """Azure serves the other interfaces under the v1 API's base,
        /openai/v1 (learn.microsoft.com/azure/foundry/openai/gpt-live-reference:
        GPT-Live at /openai/v1/live/sessions); a preview-style row has none."""
        style, path = endpoint(self.upstream_url(configured_url, options), options)
        if style != "ga":
            raise OptionsError(
                "Azure serves GPT-Live, WebRTC calls and translation under "
                "/openai/v1 only; set the provider's URL to the GA endpoint."
            )
        origin = urlsplit(self.upstream_url(configured_url, options))
        ga_endpoint = origin._replace(path=path, query="").geturl()
        return super().interface_url(ga_endpoint, {}, relative_path, http=http)

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
        style, path = endpoint(request.base_url, options)
        model = self.handshake_model(request.query, options)
        named: Query = ()
        if model:
            deployment = options.get("deployments", {}).get(model, model)
            named = (("model" if style == "ga" else "deployment", deployment),)
        rest = without(request.query, "model", "deployment")
        if style == "ga":
            defaults: Query = ()
            rest = without(rest, "api-version")
        else:
            version = options.get("api_version") or DEFAULT_PREVIEW_VERSION
            defaults = (("api-version", version),)
        url = join_query(
            request.base_url, (*named, *rest), defaults=defaults, path=path
        )
        return UpstreamTarget(url=url, headers=tuple(self._headers(request)))

    def reported_aliases(self, options: Mapping[str, Any]) -> Mapping[str, str]:
        """A deployment the provider reports stands for the model mapped to it."""
        deployments = options.get("deployments", {})
        return {deployment: model for model, deployment in deployments.items()}


def endpoint(url: str, options: Mapping[str, Any]) -> tuple[str, str]:
    """The style ("ga" or "preview") and the full path of the endpoint at `url`.

    A documented path is kept; the start of one (/openai/v1, /openai) or a bare
    host is completed. OptionsError when the URL's path and the `api_style`
    option disagree, or when the path is some other Azure OpenAI endpoint.
    """
    path = urlsplit(url).path.rstrip("/")
    configured = options.get("api_style")
    style: str | None = None
    for candidate, full in _PATHS.items():
        if path.endswith(full):
            style, base = candidate, path.removesuffix(full)
            break
    else:
        if path.endswith("/openai/v1"):
            style, base = "ga", path.removesuffix("/openai/v1")
        elif "/openai/" in f"{path}/":
            if not path.endswith("/openai"):
                raise OptionsError(
                    f"The URL's path {path!r} is not an Azure OpenAI realtime "
                    f"endpoint; expected one ending in {_PATHS['ga']} (GA) or "
                    f"{_PATHS['preview']} (preview), or a bare host."
                )
            base = path.removesuffix("/openai")
        else:
            base = path  # a bare host (or a proxy's prefix), as saved before
    if style is not None and configured not in (None, style):
        raise OptionsError(
            f"The URL is the {style} endpoint but api_style is {configured!r}; "
            f"remove api_style or paste the {configured} endpoint."
        )
    style = style or configured or "ga"
    return style, base + _PATHS[style]

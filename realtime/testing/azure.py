"""A loopback fake of Azure OpenAI Realtime: OpenAI's fake, Azure's handshake.

It serves the GA and preview URLs, checks Azure's credentials and deployment,
then speaks the OpenAI fake's GA conversation on both paths. Facts taken from
public references are cited below; the rest (marked "not verified") is a
reasonable guess that tests should not treat as the provider's contract.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from realtime.testing.base import Handshake, json_response, matches
from realtime.testing.openai import OTHER_PATHS, FakeRealtimeServer

__all__ = ["FakeAzureRealtime"]

# Azure OpenAI Realtime
#
# Facts relied on (learn.microsoft.com .../openai/how-to/realtime-audio-websockets
# and MicrosoftDocs/azure-ai-docs commit d7c37bc):
# - GA: wss://<resource>.openai.azure.com/openai/v1/realtime?model=<deployment>;
#   preview: /openai/realtime?api-version=2025-04-01-preview&deployment=<name>,
#   "api-version ... (Preview version only)".
# - Auth: Authorization: Bearer <Entra token>, or the key as the api-key header
#   or api-key query parameter. The v1 API also takes the key as a bearer token
#   (the docs use the plain OpenAI client against /openai/v1/).
# - Errors are {"error": {"code", "message"}} (Microsoft Q&A 12820829 shows a
#   400 at the handshake). The 401 and DeploymentNotFound texts are Azure's
#   usual ones; the 404 for a missing api-version and the 400 for a dated
#   api-version on the GA path are recollections, not verified.
# - The preview interface really speaks the beta event shapes; this fake speaks
#   the GA shapes on both paths (the OpenAI fake's conversation logic).

AZURE_GA_PATH = "/openai/v1/realtime"
AZURE_PREVIEW_PATH = "/openai/realtime"
AZURE_API_VERSION_RE = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
AZURE_GA_API_VERSIONS = frozenset({"v1", "preview"})
AZURE_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make "
    "sure to provide a valid key for an active subscription and use a correct "
    "regional API endpoint for your resource."
)
AZURE_NO_DEPLOYMENT = (
    "The API deployment for this resource does not exist. If you created the "
    "deployment within the last 5 minutes, please wait a moment and try again."
)


class FakeAzureRealtime(FakeRealtimeServer):
    """An Azure OpenAI Realtime upstream: OpenAI's fake behind Azure's handshake.

    ``url`` is the GA endpoint and ``preview_url`` the preview one; append the
    query (``?model=<deployment>``, or ``?api-version=...&deployment=...``).
    ``deployments_used`` records the deployment of every accepted handshake.
    ``deployments`` (optional) lists the deployments that exist.
    """

    path = AZURE_GA_PATH  # ``url``; ``preview_url`` is the preview endpoint

    def __init__(
        self,
        *,
        api_key: str,
        entra_token: str | None = None,
        deployments: Collection[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(api_key=None, host=host, port=port)
        self._azure_credentials = tuple(c for c in (api_key, entra_token) if c)
        self._azure_key = api_key
        self._deployments = None if deployments is None else frozenset(deployments)
        self.deployments_used: list[str] = []

    @property
    def preview_url(self) -> str:
        """The preview endpoint, ``.../openai/realtime``."""
        return self.base_url + AZURE_PREVIEW_PATH

    async def _refuse(
        self, connection: ServerConnection, handshake: Handshake
    ) -> Response | None:
        refusal = self._azure_refusal(handshake)
        if refusal is not None:
            status, code, message = refusal
            body = {"error": {"code": code, "message": message}}
            return json_response(connection, status, body)
        return None

    def _azure_refusal(self, handshake: Handshake) -> tuple[int, str, str] | None:
        query = handshake.query
        version = query.get("api-version")
        if handshake.path.startswith("/openai/v1/") and handshake.path in OTHER_PATHS:
            # GPT-Live and translation, under the v1 API's base.
            if not self._azure_authorized(handshake):
                return 401, "401", AZURE_DENIED
            return None
        if handshake.path == AZURE_GA_PATH:
            deployment = query.get("model")
            if version is not None and version not in AZURE_GA_API_VERSIONS:
                return 400, "BadRequest", "API version not supported"
        elif handshake.path == AZURE_PREVIEW_PATH:
            deployment = query.get("deployment")
            if version is None or not AZURE_API_VERSION_RE.fullmatch(version):
                return 404, "404", "Resource not found"
        else:
            return 404, "404", "Resource not found"
        if not self._azure_authorized(handshake):
            return 401, "401", AZURE_DENIED
        if not deployment:
            return 400, "BadRequest", "A deployment (model) is required."
        if self._deployments is not None and deployment not in self._deployments:
            return 404, "DeploymentNotFound", AZURE_NO_DEPLOYMENT
        self.deployments_used.append(deployment)
        return None

    def _azure_authorized(self, handshake: Handshake) -> bool:
        key = handshake.header("api-key") or handshake.query.get("api-key")
        if key is not None:
            return matches(key, self._azure_key)
        authorization = handshake.header("authorization") or ""
        token = authorization.removeprefix("Bearer ")
        return token != authorization and any(
            matches(token, credential) for credential in self._azure_credentials
        )

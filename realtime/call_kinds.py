"""What differs between the two kinds of WebRTC call: pure, no I/O.

A browser creates a call by posting its SDP offer; the provider answers with
its SDP answer and the call's id, then serves a "sideband" WebSocket by that id
(observe and control the call from a server) and a hangup endpoint. The two
interfaces say the same in different shapes:

- Realtime calls (developers.openai.com/api/docs/guides/realtime-webrtc and
  /realtime-server-controls; openai-python `resources/realtime/calls.py`;
  learn.microsoft.com/azure/foundry/reference/rest/realtime-create-realtime-call):
  `POST {base}/realtime/calls`, the body the bare offer (`application/sdp`,
  the model in `?model=`) or a `multipart/form-data` form of `sdp` and an
  optional `session` (JSON, as a client secret's `session`); the answer `201`,
  the SDP as `application/sdp`, the id as the last segment of `Location`
  (`/v1/realtime/calls/rtc_...`). Sideband: `wss://{base}/realtime?call_id=`.
  Hangup: `POST {base}/realtime/calls/{call_id}/hangup`.
- GPT-Live sessions (openai-python `resources/live/live.py`, `sideband.py`,
  `sessions.py`; learn.microsoft.com/azure/foundry/openai/gpt-live-reference):
  `POST {base}/live/sessions`, JSON `{"session": {"model": ...},
  "transport": {"type": "webrtc", "sdp": offer}}`; the answer JSON
  `{"session": {"id"}, "transport": {"type": "webrtc", "sdp": answer}}`.
  Sideband: `wss://{base}/live/sessions/{id}/attach`. Hangup:
  `POST {base}/live/sessions/{id}/hangup`.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote

from keys import ephemeral
from realtime.client_secrets import InvalidParameter
from realtime.credentials import check_model_name
from realtime.exceptions import UpstreamUnavailable
from realtime.http_upstream import HttpAnswer
from realtime.providers import ConnectRequest, ProviderSession
from realtime.providers.base import ProviderAdapter
from realtime.providers.live_call import LiveCallSession

# An offer from a browser is a few kilobytes.
MAX_OFFER_BYTES = 64 * 1024
# What a provider's call id may look like (it goes into URLs and paths).
_CALL_ID = re.compile(r"[A-Za-z0-9_.\-]{1,128}")


class InvalidOffer(InvalidParameter):
    """A request body that is not a call's offer; `param` names the field."""

    def __init__(
        self, message: str, *, param: str, code: str = "invalid_offer"
    ) -> None:
        super().__init__(message, param=param, code=code)


@dataclass(frozen=True, slots=True)
class Offer:
    """A client's call request: its SDP offer, session configuration, model."""

    sdp: str
    session: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        model = self.session.get("model", "")
        return model if isinstance(model, str) else ""

    def configured(self, bound: dict[str, Any], model: str) -> Offer:
        """The offer with a token's bound configuration under the client's,
        and the session's model (when known) set."""
        session = {**bound, **self.session}
        if model:
            session["model"] = model
        return Offer(sdp=self.sdp, session=session)


@dataclass(frozen=True, slots=True)
class Created:
    """The provider's answer to an offer: the call's id and its SDP answer."""

    call_id: str
    sdp: str
    status: int = 201  # the provider's, relayed


@dataclass(frozen=True, slots=True)
class Encoded:
    """A request body and its content type."""

    body: bytes
    content_type: str


def check_sdp(value: object, *, param: str = "sdp") -> str:
    """The offer, if it is one (InvalidOffer otherwise)."""
    if not isinstance(value, str) or not value.startswith("v=0"):
        raise InvalidOffer(f"Invalid '{param}': expected an SDP offer.", param=param)
    if len(value.encode("utf-8")) > MAX_OFFER_BYTES:
        raise InvalidOffer(
            f"Invalid '{param}': over {MAX_OFFER_BYTES} bytes.", param=param
        )
    if "\nm=" not in value:
        raise InvalidOffer(
            f"Invalid '{param}': the offer has no media section.", param=param
        )
    return value


def check_session(value: object, *, param: str = "session") -> dict[str, Any]:
    """A session configuration object, its model name checked."""
    if not isinstance(value, dict):
        raise InvalidOffer(f"Invalid '{param}': expected an object.", param=param)
    if ephemeral.session_size(value) > ephemeral.MAX_SESSION_BYTES:
        raise InvalidOffer(
            f"Invalid '{param}': over {ephemeral.MAX_SESSION_BYTES} bytes.",
            param=param,
        )
    model = value.get("model")
    if model is not None:
        if not isinstance(model, str) or not model:
            raise InvalidOffer(
                f"Invalid '{param}.model': expected a model name.",
                param=f"{param}.model",
            )
        check_model_name(model)
    return value


def checked_call_id(value: str) -> str:
    """A provider's call id, if it is safe to put in a URL."""
    if not _CALL_ID.fullmatch(value):
        raise UpstreamUnavailable(
            "The provider answered without a usable call id.", code="upstream_refused"
        )
    return value


def _json_object(body: bytes, *, param: str) -> dict[str, Any]:
    try:
        data = json.loads(body or b"null")
    except (UnicodeDecodeError, ValueError):
        raise InvalidOffer(f"Invalid '{param}': not JSON.", param=param) from None
    if not isinstance(data, dict):
        raise InvalidOffer(f"Invalid '{param}': expected an object.", param=param)
    return data


class RealtimeCalls:
    """`/realtime/calls`: an SDP body or a form; `201`, SDP and `Location`."""

    name: ClassVar[str] = "realtime"
    create_path: ClassVar[str] = "realtime/calls"

    def offer(self, *, content_type: str, body: bytes, form: Any) -> Offer:
        """The offer a request holds (`form`: Django's parsed form fields)."""
        if content_type == "application/sdp":
            return Offer(sdp=check_sdp(body.decode("utf-8", "replace")))
        if content_type != "multipart/form-data":
            raise InvalidOffer(
                "Send the offer as application/sdp, or as multipart/form-data "
                "with the fields sdp and session.",
                param="body",
            )
        session: dict[str, Any] = {}
        if form.get("session"):
            session = check_session(
                _json_object(form["session"].encode("utf-8"), param="session")
            )
        return Offer(sdp=check_sdp(form.get("sdp")), session=session)

    def upstream_body(self, offer: Offer) -> Encoded:
        """The form OpenAI's SDK sends: the offer, and the configuration."""
        session = {"type": "realtime", **offer.session}
        boundary = f"gateway-{secrets.token_hex(12)}"
        parts = [
            ("sdp", "application/sdp", offer.sdp.encode("utf-8")),
            ("session", "application/json", json.dumps(session).encode("utf-8")),
        ]
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
            f"Content-Type: {kind}\r\n\r\n".encode()
            + data
            + b"\r\n"
            for name, kind, data in parts
        )
        body += f"--{boundary}--\r\n".encode()
        return Encoded(body, f"multipart/form-data; boundary={boundary}")

    def created(self, answer: HttpAnswer) -> Created:
        """The call id (the Location's last segment) and the SDP answer."""
        location = answer.header("location").split("?")[0].rstrip("/")
        return Created(
            call_id=checked_call_id(location.rsplit("/", 1)[-1]),
            sdp=answer.body.decode("utf-8", "replace"),
            status=answer.status,
        )

    def sideband(self, call_id: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        """The sideband's path under the API base, and its query."""
        return "realtime", (("call_id", call_id),)

    def hangup_path(self, call_id: str) -> str:
        """The hangup endpoint's path under the API base."""
        return f"realtime/calls/{quote(call_id, safe='')}/hangup"

    def frame_handler(
        self,
        adapter: ProviderAdapter,
        *,
        model: str,
        request: ConnectRequest,
        allowed_models: tuple[str, ...],
    ) -> ProviderSession:
        """The provider's realtime handler: the sideband speaks its events."""
        return adapter.open_session(
            model=model, request=request, allowed_models=allowed_models
        )


class LiveSessions:
    """`/live/sessions` with a WebRTC transport: JSON in, JSON out."""

    name: ClassVar[str] = "live"
    create_path: ClassVar[str] = "live/sessions"

    def offer(self, *, content_type: str, body: bytes, form: Any) -> Offer:
        """The offer in the JSON body's `transport.sdp`."""
        if content_type != "application/json":
            raise InvalidOffer("Send a JSON body.", param="body")
        data = _json_object(body, param="body")
        transport = data.get("transport")
        if not isinstance(transport, dict) or transport.get("type") != "webrtc":
            raise InvalidOffer(
                'Invalid \'transport\': expected {"type": "webrtc", "sdp": ...}.',
                param="transport",
            )
        session = check_session(data.get("session"))
        if not session.get("model"):
            raise InvalidOffer(
                "Invalid 'session.model': a Live session names its model.",
                param="session.model",
            )
        return Offer(
            sdp=check_sdp(transport.get("sdp"), param="transport.sdp"), session=session
        )

    def upstream_body(self, offer: Offer) -> Encoded:
        """The SDK's `live.create` body."""
        body = {
            "session": offer.session,
            "transport": {"type": "webrtc", "sdp": offer.sdp},
        }
        return Encoded(json.dumps(body).encode("utf-8"), "application/json")

    def created(self, answer: HttpAnswer) -> Created:
        """`session.id` and `transport.sdp` of the JSON answer."""
        try:
            data = json.loads(answer.body)
            call_id, sdp = data["session"]["id"], data["transport"]["sdp"]
        except (ValueError, KeyError, TypeError):
            raise UpstreamUnavailable(
                "The provider's answer is not a Live session.", code="upstream_refused"
            ) from None
        if not isinstance(call_id, str) or not isinstance(sdp, str):
            raise UpstreamUnavailable(
                "The provider's answer is not a Live session.", code="upstream_refused"
            )
        return Created(call_id=checked_call_id(call_id), sdp=sdp, status=answer.status)

    def sideband(self, call_id: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        """The sideband's path under the API base (no query)."""
        return f"live/sessions/{quote(call_id, safe='')}/attach", ()

    def hangup_path(self, call_id: str) -> str:
        """The hangup endpoint's path under the API base."""
        return f"live/sessions/{quote(call_id, safe='')}/hangup"

    def frame_handler(
        self,
        adapter: ProviderAdapter,
        *,
        model: str,
        request: ConnectRequest,
        allowed_models: tuple[str, ...],
    ) -> ProviderSession:
        """GPT-Live's handler, as a sideband sees the session."""
        return LiveCallSession(model=model, allowed_models=allowed_models)


CallKind = RealtimeCalls | LiveSessions
REALTIME_CALLS = RealtimeCalls()
LIVE_SESSIONS = LiveSessions()

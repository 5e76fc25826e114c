"""The small interface every provider adapter implements.

An adapter knows one provider: its public endpoint, how the credential is sent,
which client query parameters go along, where the session's model is named, and
how the provider reports usage. It also declares what the provider's own clients
do, so that routes and handshake parsing are built from the registry: the paths
they connect to, where they put a key, which subprotocol to select and how they
announce a dialect. Per session it opens a `ProviderSession`, which
sees the frames as they pass: it reads usage and, only where a provider or a
client dialect truly needs it, rewrites a frame. Frames pass through unchanged
otherwise, and a session that has nothing to read from client frames says so,
so the bridge skips the call altogether.

A provider row's URL means the same for every kind: the full endpoint as the
provider documents it, path and query included (blank: the public endpoint).
`target()` keeps its path and merges the client's query into its query
(`join_query`): the adapter's defaults first, the URL's parameters over them,
the client's over both, so a client parameter overrides a configured one of the
same name and none is ever sent twice. Adapters with several endpoints (azure,
elevenlabs) append their documented path only to a URL whose path names none of
them, a bare host as rows saved before this rule hold, so a path is never
doubled. `validate_url` checks a URL when the row is saved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from keys.services import model_allowed
from keys.values import Secret
from realtime.credentials import DialectSign
from realtime.exceptions import AccessDenied, BadRequest
from realtime.usage import NO_USAGE, Billing, Usage

Query = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ClientRoute:
    """A path a provider's own SDK connects to, in Django `path()` syntax."""

    path: str  # e.g. "v1/text-to-speech/<str:voice_id>/stream-input"
    # Route parameters passed on as query parameters; any others are dropped.
    query_params: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UpstreamTarget:
    """How to open the upstream WebSocket for one session."""

    url: str
    headers: tuple[tuple[str, str], ...]
    subprotocols: tuple[str, ...] = ()

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self.headers)
        return f"UpstreamTarget(url={self.url!r}, headers=[{names}] (values hidden))"


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    """What a client asked for, as far as the upstream needs to know."""

    base_url: str  # the provider row's URL, or the adapter's public endpoint
    credential: Secret
    query: Query  # the client's query, the gateway's own parameters removed
    subprotocols: tuple[str, ...]  # offered by the client, credentials removed
    options: Mapping[str, Any]  # the provider row's options
    dialect: str = "ga"  # the client's dialect where a provider has several


def url_query(url: str) -> Query:
    """The query parameters of `url`, in order."""
    return tuple(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def merge_query(*layers: Query) -> Query:
    """The parameters of every layer, a later layer overriding an earlier one.

    A name that a layer gives replaces every value earlier layers gave it, at
    the place the name first appeared; so no name ever comes from two layers,
    and the order is stable: earlier layers' names first, then new ones.
    """
    merged: dict[str, list[str]] = {}
    for layer in layers:
        given: dict[str, list[str]] = {}
        for name, value in layer:
            given.setdefault(name, []).append(value)
        merged.update(given)  # a replaced name keeps its first place
    return tuple((name, value) for name, values in merged.items() for value in values)


def join_query(
    base_url: str, query: Query, *, defaults: Query = (), path: str | None = None
) -> str:
    """`base_url` with its own query merged between `defaults` and `query`.

    The configured URL's parameters override the adapter's `defaults`, and the
    client's `query` overrides both (see `merge_query`). `path`, if given,
    replaces the URL's path (the adapter decides it; it is never appended).
    """
    parts = urlsplit(base_url)
    params = merge_query(defaults, url_query(base_url), query)
    if path is not None:
        parts = parts._replace(path=path)
    return urlunsplit(parts._replace(query=urlencode(params)))


def without(query: Query, *names: str) -> Query:
    """`query` minus the parameters `names`."""
    return tuple((name, value) for name, value in query if name not in names)


def query_value(query: Query, name: str) -> str:
    """The first value of `name` in `query`, or ''."""
    return next((value for key, value in query if key == name), "")


# Parameters that carry a credential: never in a configured URL, which is
# shown in the admin and in an UpstreamTarget's repr.
CREDENTIAL_PARAMS = frozenset(
    {"api_key", "api-key", "key", "access_token", "token", "xi-api-key"}
)


class OptionsError(ValueError):
    """A provider row's options do not suit its adapter."""


class ProviderSession:
    """One session's view of a provider's frames: usage, and rewrites if needed.

    The session's model is learnt wherever it is named or reported: at the
    handshake, in a client frame (`name_model`) or in a provider event
    (`report_model`). The row records the latest; the key's allow-list holds
    on every model the client names, and on a model the provider reports while
    no model named by the client stands (the provider's default).
    """

    # False: the bridge never calls client_text or client_bytes (the common,
    # zero-cost case). True: both, for text and binary client frames alike.
    inspects_client_text: bool = False
    # True: the provider reports the session's model in its first events
    # (OpenAI's `session.created`), so a key with an allow-list may connect
    # without naming one; admission then waits for that report (`awaits_model`).
    reports_model: ClassVar[bool] = False
    # The longest a budget goes unchecked, in session time, for a provider that
    # bills time it reports only now and then (see `running_usage`).
    max_budget_period: ClassVar[float] = math.inf

    def __init__(self, *, model: str, allowed_models: tuple[str, ...] = ()) -> None:
        self.model = model
        self.allowed_models = allowed_models  # the key's allow-list; empty: any
        self.usage: Usage = NO_USAGE
        # True once the client named the model (at the handshake or in-band).
        self.model_named = bool(model)
        # The model that transcribes the input, priced at its own rates (blank:
        # none, or the session's model); and the interface the session turned
        # out to be in-band (blank: the one it was admitted as).
        self.transcription_model = ""
        self.interface = ""
        # Usage of work delegated to other models, by model (GPT-Live's
        # Responses backend), priced at those models' rates.
        self.delegated: tuple[tuple[str, Usage], ...] = ()

    @property
    def billing(self) -> Billing:
        """Which models parts of the usage are billed as (`Billing`)."""
        return Billing(self.transcription_model, self.delegated)

    def add_delegated(self, model: str, usage: Usage) -> None:
        """Usage of work `model` did for the session: counted in the session's
        usage, and billed as `model`."""
        self.usage += usage
        parts = dict(self.delegated)
        parts[model] = parts.get(model, NO_USAGE) + usage
        self.delegated = tuple(parts.items())

    @property
    def awaits_model(self) -> bool:
        """True while the provider must report the model before the client may
        send anything (a key with an allow-list, no model named yet)."""
        return self.reports_model and bool(self.allowed_models) and not self.model

    def check_model(self, model: str) -> None:
        """Raise AccessDenied when the key may not use `model` (named in-band)."""
        if not model_allowed(list(self.allowed_models), model):
            raise AccessDenied(
                f"Model {model!r} is not allowed for this virtual key.",
                code="model_not_allowed",
            )

    def name_model(self, model: str) -> None:
        """The client names the model in-band: checked, then recorded.

        Raises AccessDenied before the frame goes on. A refused model is recorded
        only when no other model ran before it (the row then says what was asked).
        """
        try:
            self.check_model(model)
        except AccessDenied:
            self.model = self.model or model
            raise
        self.model = model
        self.model_named = True

    def report_model(self, model: str) -> None:
        """The provider reports the model it runs: recorded; checked (AccessDenied)
        while it stands for the provider's default, no model named by the client.

        A model the client named was checked already; what the provider reports
        for it may be a dated snapshot of that name (gpt-realtime-2025-08-28).
        """
        if not model:
            return
        self.model = model
        if not self.model_named:
            self.check_model(model)

    def client_text(self, text: str) -> str:
        """A client text frame on its way upstream (rewritten or as it is).

        May raise a GatewayError (e.g. a model outside the key's allow-list).
        """
        return text

    def client_bytes(self, data: bytes) -> bytes:
        """A client binary frame on its way upstream, read like a text frame.

        Some clients send their JSON as binary frames (Gemini's do): a frame that
        is UTF-8 goes through `client_text`, so it is checked the same way.
        """
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data  # not text, so not an event the provider would read
        out = self.client_text(text)
        return data if out is text else out.encode("utf-8")

    def upstream_text(self, text: str) -> str:
        """An upstream text frame on its way to the client; reads usage.

        May raise a GatewayError (a reported model outside the allow-list).
        """
        return text

    def upstream_bytes(self, data: bytes) -> bytes:
        """An upstream binary frame on its way to the client; reads usage."""
        return data

    # The end of a session. A provider bills work it has started (a response
    # being generated) even when the client leaves before it ends; its usage
    # comes in the provider's own report of that work. While `awaiting_usage`,
    # the session's end sends `stop_requests()` upstream and keeps reading the
    # upstream's frames through this handler, bounded, before it closes it.
    # Providers that bill what the client sends (characters of text to speak)
    # have nothing outstanding: the defaults say so.

    @property
    def awaiting_usage(self) -> bool:
        """True while work the provider bills is under way, its usage unreported."""
        return False

    def stop_requests(self) -> tuple[str, ...]:
        """Frames asking the provider to stop that work and report its usage."""
        return ()

    def running_usage(self, now: float) -> Usage:
        """The usage a budget is checked against at loop time `now`: what the
        provider reported, or an estimate where it bills time it reports late."""
        return self.usage


class ProviderAdapter:
    """Knows one provider; stateless, shared by every session of its kind."""

    kind: ClassVar[str]
    default_url: ClassVar[str]
    # The header the provider's own clients put the key in; browsers may send
    # it as the subprotocol "<header>.<key>" (lower-case).
    credential_header: ClassVar[str]
    # Query parameters the provider's clients may put the key in.
    credential_params: ClassVar[tuple[str, ...]] = ()
    # Paths the provider's own clients connect to (beyond /v1/realtime).
    client_routes: ClassVar[tuple[ClientRoute, ...]] = ()
    # Subprotocols its clients offer that the gateway may select, best first.
    client_subprotocols: ClassVar[tuple[str, ...]] = ()
    # How its clients announce a dialect other than the default ("ga").
    client_dialects: ClassVar[tuple[DialectSign, ...]] = ()
    # Query parameters the gateway reads and checks (a model, a voice): sent
    # twice, the provider might read the copy the gateway did not check.
    checked_params: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> None:
        """Raise OptionsError when a provider row's options do not fit."""
        unknown = set(options) - set(cls.option_names())
        if unknown:
            raise OptionsError(
                f"Unknown option(s) for {cls.kind}: {', '.join(sorted(unknown))}; "
                f"expected: {', '.join(cls.option_names()) or 'none'}."
            )

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The options a provider row of this kind may set."""
        return ()

    @classmethod
    def validate_url(cls, url: str, options: Mapping[str, Any]) -> None:
        """Raise OptionsError when a provider row's URL does not fit (or fits
        badly with its options). `url` is a ws:// or wss:// URL, not blank."""
        carried = {name for name, _ in url_query(url)} & CREDENTIAL_PARAMS
        if carried:
            raise OptionsError(
                f"The URL carries a credential ({', '.join(sorted(carried))}); "
                "put credentials on the virtual key, not in the URL."
            )

    def upstream_url(self, configured_url: str, options: Mapping[str, Any]) -> str:
        """The provider row's URL, or the public endpoint when it is blank.

        The URL is the full endpoint as the provider documents it, path and
        query included; `target()` merges the client's parameters into it.
        """
        return configured_url or self.default_url

    # True: the provider serves OpenAI's other interfaces (GPT-Live, WebRTC
    # calls, translation) beside its realtime endpoint; see `interface_url`.
    serves_other_interfaces: ClassVar[bool] = False

    def interface_url(
        self,
        configured_url: str,
        options: Mapping[str, Any],
        relative_path: str,
        *,
        http: bool = False,
    ) -> str:
        """The URL of another of the provider's interfaces, on the origin of its
        realtime endpoint: a provider row keeps one URL and serves them all.

        `relative_path` is the interface's documented path under the API's base
        (`live/sessions`, `realtime/calls`, `realtime/translations`); the base
        is the realtime endpoint's path without its final `/realtime` (`/v1` for
        OpenAI, `/openai/v1` for Azure), or `/v1` for a bare host. The row's
        query is not carried over (each interface documents its own). `http`:
        the https:// (or http://) URL of the same origin, for a REST endpoint.
        OptionsError when the provider serves no such interface.
        """
        if not self.serves_other_interfaces:
            raise OptionsError(f"{self.kind} serves only its realtime interface")
        parts = urlsplit(self.upstream_url(configured_url, options))
        path = parts.path.rstrip("/")
        base = path.removesuffix("/realtime") if path.endswith("/realtime") else ""
        base = base or "/v1"
        scheme = parts.scheme
        if http:
            scheme = {"wss": "https", "ws": "http"}.get(scheme, scheme)
        return urlunsplit(
            (scheme, parts.netloc, f"{base}/{relative_path.lstrip('/')}", "", "")
        )

    def auth_headers(self, request: ConnectRequest) -> list[tuple[str, str]]:
        """The credential in the provider's own scheme, for its other interfaces
        (see `interface_url`). OptionsError for a provider that serves none."""
        raise OptionsError(f"{self.kind} serves only its realtime interface")

    def check_query(self, query: Query) -> None:
        """Raise BadRequest when a checked parameter comes more than once."""
        names = [name for name, _ in query if name in self.checked_params]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise BadRequest(
                f"The query names {', '.join(repeated)} more than once; send each "
                "once.",
                code="duplicate_parameter",
            )

    def handshake_model(self, query: Query, options: Mapping[str, Any]) -> str | None:
        """The model named at the handshake; None when it comes in-band later."""
        return query_value(query, "model")

    def named_model(
        self, configured_url: str, query: Query, options: Mapping[str, Any]
    ) -> str | None:
        """The model the client names at the handshake or, when it names none,
        the provider row's URL names; None when it comes in-band later."""
        model = self.handshake_model(query, options)
        if not model and configured_url:
            model = self.handshake_model(url_query(configured_url), options) or model
        return model

    def target(self, request: ConnectRequest) -> UpstreamTarget:
        """The upstream URL, headers and subprotocols for a session."""
        raise NotImplementedError

    # True: a session may be bound to a configuration a short-lived token
    # carries (keys.ephemeral); see `session_config_frames`.
    applies_session_config: ClassVar[bool] = False

    def session_config_frames(
        self, config: Mapping[str, Any], options: Mapping[str, Any]
    ) -> tuple[str, ...]:
        """The frames that apply a bound session configuration upstream, sent
        before the client's first frame (none: nothing to apply). OptionsError
        for a provider that takes none."""
        raise OptionsError(f"{self.kind} sessions take no bound configuration")

    def open_session(
        self, *, model: str, request: ConnectRequest, allowed_models: tuple[str, ...]
    ) -> ProviderSession:
        """A fresh per-session frame handler."""
        return ProviderSession(model=model, allowed_models=allowed_models)

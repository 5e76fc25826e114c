"""What is derived from the provider registry: routes, handshake places, kinds."""

from __future__ import annotations

import asyncio

import pytest

from keys.kinds import provider_kinds
from keys.values import Secret
from realtime.exceptions import AccessDenied
from realtime.providers import (
    ClientRoute,
    ConnectRequest,
    ProviderSession,
    adapter_for,
    client_routes,
    key_places,
    known_kinds,
)
from realtime.providers.base import OptionsError
from realtime.routing import RouteParamsToQuery, websocket_urlpatterns

NATIVE_PATHS = [
    ("openai/v1/realtime", {}),
    ("openai/realtime", {}),
    (
        "ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContent",
        {"api_version": "v1alpha"},
    ),
    ("tts/websocket", {}),
    ("v1/text-to-speech/v1/stream-input", {"voice_id": "v1"}),
    ("v1/convai/conversation", {}),
]


def resolve(path: str):
    """The first URL pattern that matches `path`, and its kwargs."""
    for pattern in websocket_urlpatterns:
        match = pattern.pattern.match(path)
        if match:
            return pattern, match[2]
    raise AssertionError(f"no route for {path}")


@pytest.mark.parametrize(("path", "kwargs"), NATIVE_PATHS)
def test_every_native_path_reaches_the_consumer(path, kwargs):
    pattern, found = resolve(path)
    assert pattern.pattern.regex.pattern != ""  # not the catch-all
    assert found == kwargs


def test_routes_come_from_the_adapters_each_once():
    routes = client_routes()
    declared = [r for kind in known_kinds() for r in adapter_for(kind).client_routes]
    assert set(routes) == set(declared)
    assert len(routes) == len({route.path for route in routes})
    assert (
        ClientRoute(
            "v1/text-to-speech/<str:voice_id>/stream-input", query_params=("voice_id",)
        )
        in routes
    )


@pytest.mark.parametrize(
    ("query", "kwargs", "expected"),
    [
        (b"", {"voice_id": "v 1"}, b"voice_id=v+1"),
        (b"model_id=m", {"voice_id": "v"}, b"model_id=m&voice_id=v"),
        (b"a=1", {"api_version": "v1"}, b"a=1"),  # not named: dropped
        (b"", {}, b""),
    ],
)
def test_named_route_params_join_the_query(query, kwargs, expected):
    seen = {}

    async def app(scope, receive, send):
        seen.update(scope)

    wrapped = RouteParamsToQuery(app, ("voice_id",))
    scope = {"query_string": query, "url_route": {"args": (), "kwargs": kwargs}}
    asyncio.run(wrapped(scope, None, None))
    assert seen["query_string"] == expected


def test_handshake_places_come_from_the_adapters():
    places = key_places()
    assert places.subprotocols == ("realtime", "openai-beta.realtime-v1")
    assert [sign.dialect for sign in places.dialects] == ["beta"]
    assert places.sign_headers == (b"openai-beta",)


@pytest.mark.parametrize(
    ("kind", "query"),
    [
        ("openai", ()),
        ("azure", ()),
        ("google", ()),
        ("cartesia", ()),
        ("elevenlabs", (("voice_id", "v"),)),
        ("elevenlabs", (("agent_id", "a"),)),
    ],
)
def test_every_session_checks_models_against_the_key(kind, query):
    adapter = adapter_for(kind)
    options = {"resource": "contoso"} if kind == "azure" else {}
    request = ConnectRequest(
        base_url=adapter.upstream_url("", options),
        credential=Secret("sk"),
        query=query,
        subprotocols=(),
        options=options,
    )
    session = adapter.open_session(
        model="", request=request, allowed_models=("gpt-*", "sonic")
    )
    session.check_model("gpt-realtime")
    session.check_model("sonic")
    with pytest.raises(AccessDenied) as caught:
        session.check_model("other")
    assert caught.value.code == "model_not_allowed"
    assert str(caught.value) == "Model 'other' is not allowed for this virtual key."
    ProviderSession(model="").check_model("anything")  # empty list: any model


def test_keys_asks_the_registered_adapter_kinds():
    assert provider_kinds.kinds() == known_kinds()
    provider_kinds.check_options("azure", {"resource": "contoso"})
    with pytest.raises(OptionsError):
        provider_kinds.check_options("azure", {"api_style": "beta"})

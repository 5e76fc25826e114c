from __future__ import annotations

import pytest

from realtime.credentials import ClientCredentials, parse_handshake
from realtime.providers import key_places

VK = "vk_" + "a" * 43


def parse(headers=(), query=b"", subprotocols=()):
    return parse_handshake(
        headers=[(name.encode(), value.encode()) for name, value in headers],
        query_string=query,
        subprotocols=subprotocols,
        places=key_places(),
    )


@pytest.mark.parametrize(
    ("headers", "query", "subprotocols", "expected"),
    [
        ([("x-portkey-virtual-key", VK)], b"", (), ClientCredentials(virtual_key=VK)),
        ([("X-Portkey-Api-Key", VK)], b"", (), ClientCredentials(api_key=VK)),
        ([("Authorization", f"Bearer {VK}")], b"", (), ClientCredentials(api_key=VK)),
        ([("authorization", f"bearer  {VK} ")], b"", (), ClientCredentials(api_key=VK)),
        ([("authorization", f"Basic {VK}")], b"", (), ClientCredentials()),
        ([], f"virtual_key={VK}".encode(), (), ClientCredentials(virtual_key=VK)),
        ([], b"api_key=sk-raw&provider=openai", (),
         ClientCredentials(api_key="sk-raw", provider="openai")),
        ([], b"", ("realtime", f"x-portkey-virtual-key.{VK}"),
         ClientCredentials(virtual_key=VK)),
        ([], b"", (f"x-portkey-api-key.{VK}", "x-portkey-provider.openai"),
         ClientCredentials(api_key=VK, provider="openai")),
        ([], b"", ("realtime", f"openai-insecure-api-key.{VK}"),
         ClientCredentials(api_key=VK)),
        ([("x-portkey-provider", "openai"), ("x-portkey-api-key", "sk-raw")], b"", (),
         ClientCredentials(api_key="sk-raw", provider="openai")),
        ([], b"", (), ClientCredentials()),
    ],
)  # fmt: skip
def test_credentials_from_each_place(headers, query, subprotocols, expected):
    assert parse(headers, query, subprotocols).credentials == expected


def test_headers_win_over_subprotocols_and_query():
    handshake = parse(
        [("x-portkey-virtual-key", "from-header")],
        b"virtual_key=from-query",
        ("x-portkey-virtual-key.from-protocol",),
    )
    assert handshake.credentials.virtual_key == "from-header"
    handshake = parse(
        [], b"virtual_key=from-query", ("x-portkey-virtual-key.from-protocol",)
    )
    assert handshake.credentials.virtual_key == "from-protocol"


def test_gateway_query_params_are_not_forwarded_and_others_are_in_order():
    handshake = parse(
        query=b"model=gpt-realtime&virtual_key=x&api_key=y&provider=z&foo=1&foo=2&q=a%20b"
    )
    assert handshake.query == (
        ("model", "gpt-realtime"), ("foo", "1"), ("foo", "2"), ("q", "a b"),
    )  # fmt: skip
    assert handshake.model == "gpt-realtime"


@pytest.mark.parametrize(
    ("offered", "selected", "kept"),
    [
        # A protocol the provider's clients expect wins, wherever it was offered.
        (("realtime", f"x-portkey-virtual-key.{VK}"), "realtime", ("realtime",)),
        ((f"openai-insecure-api-key.{VK}", "realtime"), "realtime", ("realtime",)),
        (("openai-beta.realtime-v1", f"openai-insecure-api-key.{VK}",
          "openai-organization.org", "openai-project.proj"),
         "openai-beta.realtime-v1", ("openai-beta.realtime-v1",)),
        (("realtime", "openai-beta.realtime-v1"), "realtime",
         ("realtime", "openai-beta.realtime-v1")),
        (("openai-beta.realtime-v1", "realtime"), "realtime",
         ("openai-beta.realtime-v1", "realtime")),
        # Else one that holds no secret, in the client's order of preference.
        ((f"xi-api-key.{VK}", "x-portkey-provider.eleven"),
         "x-portkey-provider.eleven", ()),
        ((f"x-api-key.{VK}", "my-app.v2", "x-portkey-provider.cartesia"),
         "my-app.v2", ("my-app.v2",)),
        ((f"openai-insecure-api-key.{VK}", "openai-organization.org"),
         "openai-organization.org", ()),
        # Only credentials offered: one is echoed, or the browser fails the
        # handshake; it still never goes upstream.
        ((f"x-portkey-virtual-key.{VK}",), f"x-portkey-virtual-key.{VK}", ()),
        ((f"xi-api-key.{VK}",), f"xi-api-key.{VK}", ()),
        ((f"x-api-key.{VK}",), f"x-api-key.{VK}", ()),
        ((f"x-goog-api-key.{VK}",), f"x-goog-api-key.{VK}", ()),
        ((f"api-key.{VK}",), f"api-key.{VK}", ()),
        ((f"X-Portkey-Api-Key.{VK}", "cf-aig-authorization.cf"),
         f"X-Portkey-Api-Key.{VK}", ()),
        (("cf-aig-authorization.cf", f"xi-api-key.{VK}"), "cf-aig-authorization.cf", ()),
        # Nothing offered (or only blanks): nothing selected.
        ((), None, ()),
        (("", " "), None, ()),
    ],
)  # fmt: skip
def test_selected_subprotocol_is_one_offered_the_least_secret_first(
    offered, selected, kept
):
    handshake = parse(subprotocols=offered)
    assert handshake.selected_subprotocol == selected
    assert handshake.subprotocols == kept
    assert all(VK not in protocol for protocol in handshake.subprotocols)
    assert all("cf-aig" not in protocol for protocol in handshake.subprotocols)


@pytest.mark.parametrize(
    "offered",
    [
        (f"x-portkey-virtual-key.{VK}",),
        (f"xi-api-key.{VK}",),
        (f"x-goog-api-key.{VK}",),
        (f"x-api-key.{VK}",),
        (f"openai-insecure-api-key.{VK}",),
    ],
)
def test_an_echoed_credential_is_hidden_from_the_repr(offered):
    handshake = parse(subprotocols=offered)
    assert handshake.selected_subprotocol == offered[0]
    assert VK not in repr(handshake)
    assert ".***" in repr(handshake)


def test_the_repr_shows_a_selected_protocol_that_holds_no_secret():
    handshake = parse(subprotocols=("realtime", f"x-portkey-virtual-key.{VK}"))
    assert "selected_subprotocol='realtime'" in repr(handshake)


def test_repr_hides_keys():
    handshake = parse(
        [("authorization", f"Bearer {VK}")], b"virtual_key=" + VK.encode()
    )
    assert VK not in repr(handshake)
    assert VK not in repr(handshake.credentials)


def test_non_ascii_and_odd_bytes_do_not_raise():
    handshake = parse_handshake(
        headers=[(b"authorization", b"Bearer \xff\xfe"), (b"x-other", b"\x00")],
        query_string=b"model=%ff%fe&virtual_key=%00",
        subprotocols=(),
    )
    assert handshake.credentials.api_key == "\xff\xfe"


def test_a_bearer_header_wins_over_a_query_virtual_key():
    handshake = parse(
        [("authorization", "Bearer from-header")], b"virtual_key=from-query"
    )
    assert handshake.credentials == ClientCredentials(api_key="from-header")

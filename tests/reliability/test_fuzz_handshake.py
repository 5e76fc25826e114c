"""Property-based tests of the handshake parser a client can feed anything.

`parse_handshake` never raises on any header list, query string or subprotocol
list, and a key presented in any accepted place never reaches what goes upstream
(subprotocols, query) nor a repr.

No I/O and no database: each example is a few microseconds of parsing.
"""

from __future__ import annotations

import string
from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from realtime.credentials import KeyPlaces, parse_handshake
from realtime.providers import key_places
from realtime.providers.openai import SUBPROTOCOLS as SELECTABLE_PROTOCOLS
from tests.support.fuzzing import BOUNDED

pytestmark = pytest.mark.timeout(120)

GATEWAY_HEADERS = ("x-portkey-virtual-key", "x-portkey-api-key")
GATEWAY_PROTOCOLS = (
    "x-portkey-virtual-key.",
    "x-portkey-api-key.",
    "openai-insecure-api-key.",
)
GATEWAY_PARAMS = ("virtual_key", "api_key")
PROVIDER_PLACES = key_places()
OTHER_PROTOCOLS = (
    "x-portkey-provider.",
    "openai-organization.",
    "openai-project.",
    *SELECTABLE_PROTOCOLS,
)


def cased(name: str) -> st.SearchStrategy[str]:
    """`name` with each letter in either case (header names and prefixes are
    matched case-insensitively)."""
    flips = st.lists(st.booleans(), min_size=len(name), max_size=len(name))
    return flips.map(
        lambda up: "".join(c.upper() if u else c for c, u in zip(name, up, strict=True))
    )


KNOWN_HEADERS = (
    *GATEWAY_HEADERS,
    *PROVIDER_PLACES.headers,
    "authorization",
    "x-portkey-provider",
    "openai-beta",
    "cookie",
)
header_names = st.one_of(
    st.binary(max_size=32),
    st.sampled_from(KNOWN_HEADERS).flatmap(cased).map(str.encode),
)
HUGE = (4 * 1024, 64 * 1024, 1024 * 1024)
header_values = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.builds(
        lambda prefix, n: prefix + b"\xe9" * n,
        st.sampled_from([b"", b"Bearer ", b"realtime=v1,"]),
        st.sampled_from(HUGE),
    ),
)
headers = st.lists(st.tuples(header_names, header_values), max_size=10)

protocols = st.lists(
    st.one_of(
        st.text(max_size=40),
        st.builds(
            str.__add__,
            st.sampled_from(
                GATEWAY_PROTOCOLS + PROVIDER_PLACES.protocol_prefixes + OTHER_PROTOCOLS
            ).flatmap(cased),
            st.text(max_size=30),
        ),
    ),
    max_size=8,
)

PARAM_NAMES = (
    *GATEWAY_PARAMS,
    *PROVIDER_PLACES.params,
    "provider",
    "model",
    "intent",
)
param_names = st.one_of(st.sampled_from(PARAM_NAMES), st.text(max_size=10))
query_pairs = st.lists(st.tuples(param_names, st.text(max_size=30)), max_size=8)


def quoted(text: str, everything: bool) -> str:
    """Percent-encoded: minimally, or every byte (`%76irtual_key` is a name too)."""
    if everything:
        return "".join(f"%{b:02X}" for b in text.encode("utf-8", "surrogatepass"))
    return quote(text, safe="", errors="surrogatepass")


def encode_query(pairs: list[tuple[str, str]], everything: list[bool]) -> bytes:
    """`pairs` as a query string; pair i fully percent-encoded if everything[i]."""
    parts = []
    for i, (name, value) in enumerate(pairs):
        full = i < len(everything) and everything[i]
        parts.append(f"{quoted(name, full)}={quoted(value, full)}")
    return "&".join(parts).encode("ascii")


query_strings = st.one_of(
    st.binary(max_size=200),
    st.builds(
        encode_query, query_pairs, st.lists(st.booleans(), min_size=8, max_size=8)
    ),
    st.sampled_from(HUGE).map(lambda n: b"model=" + b"%FF" * (n // 3)),
)


@BOUNDED
@given(
    headers=headers,
    query=query_strings,
    offered=protocols,
    with_places=st.booleans(),
)
def test_parse_handshake_never_raises(headers, query, offered, with_places):
    places = PROVIDER_PLACES if with_places else KeyPlaces()
    handshake = parse_handshake(
        headers=headers, query_string=query, subprotocols=offered, places=places
    )
    credential_prefixes = (
        *GATEWAY_PROTOCOLS,
        *places.protocol_prefixes,
        "x-portkey-provider.",
    )
    for protocol in handshake.subprotocols:
        assert not protocol.lower().startswith(credential_prefixes)
    consumed = {*GATEWAY_PARAMS, "provider", *places.params}
    assert not {name for name, _ in handshake.query} & consumed
    # One of the offered protocols is always selected (browsers require it),
    # a credential only when nothing else was offered.
    offered_now = [p.strip() for p in offered if p.strip()]
    assert (handshake.selected_subprotocol is None) == (not offered_now)
    assert handshake.selected_subprotocol in (None, *offered_now)
    if any(p in places.subprotocols for p in handshake.subprotocols):
        assert handshake.selected_subprotocol in places.subprotocols
    elif handshake.selected_subprotocol is not None:
        secret = (*credential_prefixes[:-1], "cf-aig-authorization.")
        if handshake.selected_subprotocol.lower().startswith(secret):
            assert all(p.lower().startswith(secret) for p in offered_now)
    if handshake.credentials.presented:
        assert "***" in repr(handshake.credentials)
    repr(handshake)  # never raises either


URL_SAFE = string.ascii_letters + string.digits + "-_"
keys = st.one_of(
    st.text(URL_SAFE, min_size=43, max_size=43).map(lambda s: f"vk_{s}"),
    # Anything a client might paste, as long as it is long enough to be
    # recognisable (no whitespace at the ends: headers and protocols are stripped).
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Z", "C")),
        min_size=24,
        max_size=64,
    ),
)
SPOTS = ("header", "bearer", "protocol", "query")


@BOUNDED
@given(
    data=st.data(),
    key=keys,
    with_places=st.booleans(),
    spots=st.lists(st.sampled_from(SPOTS), min_size=1, max_size=5),
    noise_headers=headers,
    noise_protocols=protocols,
    noise_query=query_pairs,
)
def test_a_presented_key_never_reaches_what_goes_upstream(
    data, key, with_places, spots, noise_headers, noise_protocols, noise_query
):
    # Noise holding the key itself would be a key in a place that is not one.
    assume(not any(key in protocol for protocol in noise_protocols))
    assume(not any(key in name or key in value for name, value in noise_query))
    places = PROVIDER_PLACES if with_places else KeyPlaces()
    header_list = list(noise_headers)
    offered = list(noise_protocols)
    pairs = list(noise_query)
    for spot in spots:
        if spot == "header":
            names = st.sampled_from(GATEWAY_HEADERS + places.headers).flatmap(cased)
            pad = data.draw(st.sampled_from(["", " ", "\t"]))
            place = (data.draw(names).encode(), f"{pad}{key}{pad}".encode())
            target = header_list
        elif spot == "bearer":
            scheme = data.draw(cased("bearer"))
            place = (data.draw(cased("authorization")).encode(), f"{scheme} {key}")
            place = (place[0], place[1].encode())
            target = header_list
        elif spot == "protocol":
            prefixes = GATEWAY_PROTOCOLS + places.protocol_prefixes
            place = data.draw(st.sampled_from(prefixes).flatmap(cased)) + key
            target = offered
        else:
            place = (data.draw(st.sampled_from(GATEWAY_PARAMS + places.params)), key)
            target = pairs
        target.insert(data.draw(st.integers(0, len(target))), place)
    everything = data.draw(st.lists(st.booleans(), min_size=len(pairs)))

    handshake = parse_handshake(
        headers=header_list,
        query_string=encode_query(pairs, everything),
        subprotocols=offered,
        places=places,
    )

    assert not any(key in protocol for protocol in handshake.subprotocols)
    assert not any(key in name or key in value for name, value in handshake.query)
    assert key not in handshake.model
    assert key not in repr(handshake)
    assert key not in repr(handshake.credentials)

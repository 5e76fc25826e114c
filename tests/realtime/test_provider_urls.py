"""Provider URLs pasted as the providers document them, for every kind.

The URL is the full endpoint, path and query included; a client parameter
overrides a configured one of the same name, none is ever sent twice, a path is
never doubled, and a bare host (rows saved before the rule) still works.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.exceptions import ValidationError

from keys.kinds import provider_kinds
from keys.models import Provider
from keys.values import Secret
from realtime.exceptions import BadRequest
from realtime.providers import ConnectRequest, adapter_for
from realtime.providers.base import OptionsError, join_query, merge_query
from realtime.providers.elevenlabs import TextToSpeechSession

GA = "wss://r.openai.azure.com/openai/v1/realtime"
PREVIEW = "wss://r.openai.azure.com/openai/realtime"
TTS = "wss://api.elevenlabs.io/v1/text-to-speech/voiceA/stream-input"
AGENT = "wss://api.elevenlabs.io/v1/convai/conversation"
CARTESIA = "wss://api.cartesia.ai/tts/websocket"
GEMINI = (
    "wss://generativelanguage.googleapis.com/ws/"
    "google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContent"
)
MAP = {"deployments": {"gpt-realtime": "rt-prod"}}


def request(kind: str, url: str, query=(), options=None) -> ConnectRequest:
    adapter = adapter_for(kind)
    options = options or {}
    return ConnectRequest(
        base_url=adapter.upstream_url(url, options),
        credential=Secret("sk-upstream"),
        query=tuple(query),
        subprotocols=(),
        options=options,
    )


def target_url(kind: str, url: str, query=(), options=None) -> str:
    return adapter_for(kind).target(request(kind, url, query, options)).url


def q(text: str) -> tuple[tuple[str, str], ...]:
    return tuple(parse_qsl(text, keep_blank_values=True))


# --- merging --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layers", "merged"),
    [
        (("a=1&b=2", "b=3&c=4"), "a=1&b=3&c=4"),  # override in place, new after
        (("a=1&a=2&b=2", "a=9"), "a=9&b=2"),  # every earlier value replaced
        (("v=d", "a=1&v=u", "v=c&x=1"), "v=c&a=1&x=1"),  # first place kept
        (("", "a=1&a=2"), "a=1&a=2"),  # a client's own repeats are its own
        (("a=1", ""), "a=1"),
    ],
)
def test_merge_query(layers, merged):
    assert merge_query(*(q(layer) for layer in layers)) == q(merged)


def test_join_query_never_duplicates_and_replaces_the_path():
    url = join_query(
        "wss://h/p?a=1&b=2", q("b=3"), defaults=q("a=0&d=4"), path="/other"
    )
    assert url == "wss://h/other?a=1&d=4&b=3"


# --- pasted URLs, every kind ------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "url", "options", "client", "expected"),
    [
        # openai: the URL was always the full endpoint; now its query merges.
        ("openai", "wss://api.openai.com/v1/realtime?model=gpt-realtime", {}, "",
         "wss://api.openai.com/v1/realtime?model=gpt-realtime"),
        ("openai", "wss://api.openai.com/v1/realtime?model=gpt-realtime", {},
         "model=gpt-realtime-mini&intent=x",
         "wss://api.openai.com/v1/realtime?model=gpt-realtime-mini&intent=x"),
        ("openai", "wss://proxy.example/team/v1/realtime", {}, "model=m",
         "wss://proxy.example/team/v1/realtime?model=m"),
        # azure GA, pasted from the portal; the client's model mapped and once.
        ("azure", f"{GA}?model=rt-prod", {}, "", f"{GA}?model=rt-prod"),
        ("azure", f"{GA}?model=rt-old", MAP, "model=gpt-realtime&x=1",
         f"{GA}?model=rt-prod&x=1"),
        ("azure", f"{GA}?model=rt-prod", {}, "api-version=2024-10-01-preview",
         f"{GA}?model=rt-prod"),  # the GA path takes no api-version
        ("azure", f"{GA}?model=rt-prod", {"api_style": "ga"}, "deployment=rt-2",
         f"{GA}?model=rt-2"),
        # azure preview, pasted: the style comes from the path.
        ("azure", f"{PREVIEW}?api-version=2024-10-01-preview&deployment=rt-prod",
         {}, "",
         f"{PREVIEW}?api-version=2024-10-01-preview&deployment=rt-prod"),
        ("azure", f"{PREVIEW}?api-version=2024-10-01-preview&deployment=rt-old",
         {**MAP, "api_style": "preview"},
         "api-version=2025-04-01-preview&model=gpt-realtime",
         f"{PREVIEW}?api-version=2025-04-01-preview&deployment=rt-prod"),
        ("azure", f"{PREVIEW}?deployment=rt", {"api_version": "2025-04-01-preview"},
         "", f"{PREVIEW}?api-version=2025-04-01-preview&deployment=rt"),
        # azure: the start of a documented path is completed, never doubled.
        ("azure", "wss://r.openai.azure.com/openai/v1/", {}, "model=rt",
         f"{GA}?model=rt"),
        ("azure", "wss://r.openai.azure.com/openai", {"api_style": "preview"},
         "deployment=rt",
         f"{PREVIEW}?api-version=2025-04-01-preview&deployment=rt"),
        # azure: a bare host (rows saved before) gets the api_style's path.
        ("azure", "wss://r.openai.azure.com", {}, "model=rt", f"{GA}?model=rt"),
        ("azure", "wss://r.openai.azure.com/", {"api_style": "preview"},
         "deployment=rt",
         f"{PREVIEW}?api-version=2025-04-01-preview&deployment=rt"),
        ("azure", "", {"resource": "r"}, "model=rt", f"{GA}?model=rt"),
        # google: the pasted endpoint as is; model and key never forwarded.
        ("google", GEMINI, {}, "model=gemini-x&key=vk&alt=json", f"{GEMINI}?alt=json"),
        # cartesia: cartesia_version in the URL, once; the client's wins.
        ("cartesia", f"{CARTESIA}?cartesia_version=2024-11-13", {}, "",
         f"{CARTESIA}?cartesia_version=2024-11-13"),
        ("cartesia", f"{CARTESIA}?cartesia_version=2024-11-13", {},
         "cartesia_version=2025-04-16&api_key=vk",
         f"{CARTESIA}?cartesia_version=2025-04-16"),
        ("cartesia", CARTESIA, {"cartesia_version": "2024-06-10"}, "",
         f"{CARTESIA}?cartesia_version=2024-06-10"),
        # elevenlabs TTS: the URL's voice serves a client that names none.
        ("elevenlabs", f"{TTS}?model_id=eleven_flash_v2_5&output_format=pcm_16000",
         {}, "", f"{TTS}?model_id=eleven_flash_v2_5&output_format=pcm_16000"),
        ("elevenlabs", f"{TTS}?model_id=eleven_flash_v2_5", {},
         "voice_id=voice+B&model_id=eleven_v3",
         "wss://api.elevenlabs.io/v1/text-to-speech/voice%20B/stream-input"
         "?model_id=eleven_v3"),
        # elevenlabs agents: the URL's agent_id, or the client's instead.
        ("elevenlabs", f"{AGENT}?agent_id=a1", {}, "", f"{AGENT}?agent_id=a1"),
        ("elevenlabs", f"{AGENT}?agent_id=a1", {}, "agent_id=a2",
         f"{AGENT}?agent_id=a2"),
        # elevenlabs: a bare host, or a regional one, gets the asked-for path.
        ("elevenlabs", "wss://api.elevenlabs.io", {}, "voice_id=v",
         "wss://api.elevenlabs.io/v1/text-to-speech/v/stream-input"),
        ("elevenlabs", "wss://api.eu.residency.elevenlabs.io/", {}, "agent_id=a1",
         "wss://api.eu.residency.elevenlabs.io/v1/convai/conversation?agent_id=a1"),
    ],
)  # fmt: skip
def test_pasted_urls(kind, url, options, client, expected):
    if url:
        adapter_for(kind).validate_url(url, options)  # a row may be saved
    built = target_url(kind, url, q(client), options)
    assert built == expected
    names = [name for name, _ in q(urlsplit(built).query)]
    assert len(names) == len(set(names))


# --- what does not fit ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "url", "options", "message"),
    [
        ("azure", f"{GA}?model=rt", {"api_style": "preview"}, "ga endpoint"),
        ("azure", f"{PREVIEW}?deployment=rt", {"api_style": "ga"}, "preview endpoint"),
        ("azure", "wss://r.openai.azure.com/openai/v1", {"api_style": "preview"},
         "ga endpoint"),
        ("azure", "wss://r.openai.azure.com/openai/deployments/rt/chat", {},
         "not an Azure OpenAI realtime endpoint"),
        ("azure", f"{PREVIEW}?api-version=2024-10-01-preview",
         {"api_version": "2025-04-01-preview"}, "keep one"),
        ("azure", f"{GA}?model=rt&api-key=sk", {}, "credential"),
        ("cartesia", f"{CARTESIA}?cartesia_version=2024-11-13",
         {"cartesia_version": "2025-04-16"}, "keep one"),
        ("cartesia", f"{CARTESIA}?api_key=sk", {}, "credential"),
        ("google", f"{GEMINI}?key=sk", {}, "credential"),
        ("elevenlabs", "wss://api.elevenlabs.io/v1/text-to-speech/v/multi-stream-input",
         {}, "not an ElevenLabs endpoint"),
        ("elevenlabs", "wss://api.elevenlabs.io/v1/", {}, "not an ElevenLabs endpoint"),
    ],
)  # fmt: skip
def test_urls_that_do_not_fit_are_refused(kind, url, options, message):
    with pytest.raises(OptionsError, match=message):
        adapter_for(kind).validate_url(url, options)


@pytest.mark.parametrize(
    ("url", "options"),
    [
        (f"{GA}?model=rt", {"api_style": "preview"}),
        ("wss://r.openai.azure.com/openai/deployments/rt/chat", {}),
    ],
)
def test_a_saved_misfit_is_a_misconfigured_provider_at_connect_time(url, options):
    with pytest.raises(OptionsError):
        target_url("azure", url, q("model=rt"), options)


@pytest.mark.parametrize(
    ("url", "client"),
    [
        (f"{TTS}?model_id=m", "agent_id=a1"),
        (f"{AGENT}?agent_id=a1", "voice_id=v"),
        (AGENT, ""),  # no agent anywhere
        ("wss://api.elevenlabs.io", "model_id=m"),  # no voice, no agent
    ],
)
def test_elevenlabs_client_asking_for_what_the_url_does_not_serve(url, client):
    with pytest.raises(BadRequest):
        target_url("elevenlabs", url, q(client))


# --- saving a provider ------------------------------------------------------------


@pytest.mark.django_db
def test_provider_rows_check_their_url_against_the_kind():
    provider = Provider(
        slug="az", kind="azure", upstream_url=f"{GA}?model=rt",
        options={"api_style": "preview"},
    )  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        provider.full_clean()
    assert list(caught.value.message_dict) == ["upstream_url"]
    assert "api_style is 'preview'" in caught.value.message_dict["upstream_url"][0]
    provider.options = {}
    provider.full_clean()
    # Rows saved before the rule, host only, still validate.
    for kind, url in [
        ("azure", "wss://contoso.openai.azure.com"),
        ("elevenlabs", "wss://api.elevenlabs.io"),
    ]:
        Provider(slug="old", kind=kind, upstream_url=url).full_clean()


@pytest.mark.django_db
def test_a_malformed_url_is_reported_once_by_its_field():
    provider = Provider(slug="az", kind="azure", upstream_url="https://r/openai/v1")
    with pytest.raises(ValidationError) as caught:
        provider.full_clean()
    assert caught.value.message_dict["upstream_url"] == [
        "The upstream URL must be a ws:// or wss:// URL."
    ]


def test_keys_asks_the_registered_adapter_about_urls():
    provider_kinds.check_upstream_url("cartesia", CARTESIA, {})
    with pytest.raises(OptionsError):
        provider_kinds.check_upstream_url("azure", f"{GA}", {"api_style": "preview"})


# --- the model and the meter read the URL too ----------------------------------------


@pytest.mark.parametrize(
    ("kind", "url", "client", "model"),
    [
        ("azure", f"{GA}?model=rt-prod", "", "rt-prod"),
        ("azure", f"{PREVIEW}?deployment=rt-prod", "", "rt-prod"),
        ("azure", f"{GA}?model=rt-prod", "deployment=gpt-realtime", "gpt-realtime"),
        ("openai", "wss://api.openai.com/v1/realtime?model=a", "model=b", "b"),
        ("elevenlabs", f"{TTS}?model_id=eleven_flash_v2_5", "", "eleven_flash_v2_5"),
        ("elevenlabs", f"{AGENT}?agent_id=a1", "", "agent:a1"),
        ("elevenlabs", f"{AGENT}?agent_id=a1", "agent_id=a2", "agent:a2"),
        ("cartesia", f"{CARTESIA}?model_id=x", "", None),  # named in-band
    ],
)
def test_the_model_comes_from_the_client_else_the_url(kind, url, client, model):
    assert adapter_for(kind).named_model(url, q(client), {}) == model


def test_elevenlabs_meters_the_urls_output_format_when_the_client_names_none():
    url = f"{TTS}?output_format=pcm_16000"
    adapter = adapter_for("elevenlabs")
    for client, seconds in [("", 1.0), ("output_format=pcm_32000", 0.5)]:
        tts = adapter.open_session(
            model="", request=request("elevenlabs", url, q(client)), allowed_models=()
        )
        assert isinstance(tts, TextToSpeechSession)
        audio = base64.b64encode(bytes(32000)).decode()
        tts.upstream_text(json.dumps({"audio": audio}))
        assert tts.usage.audio_seconds == pytest.approx(seconds)

"""A token's configuration as its provider's frames (no network)."""

from __future__ import annotations

import json
import logging

import pytest

from keys.values import ProviderTarget, ResolvedCredential, Secret, SessionBinding
from realtime import bindings
from realtime.exceptions import GatewayError
from realtime.providers import adapter_for

SESSION = {
    "type": "realtime",
    "model": "gpt-realtime",
    "instructions": "Answer in haiku.",
    "output_modalities": ["text"],
}
LOG = logging.getLogger(__name__)


def resolved(kind: str, session: dict, options: dict | None = None):
    provider = ProviderTarget(1, "p", kind, "", options or {})
    binding = SessionBinding(model="gpt-realtime", session=session)
    return ResolvedCredential(provider, Secret("s"), None, binding=binding)


@pytest.mark.parametrize("kind", ["openai", "azure"])
def test_a_ga_session_update_without_the_model(kind):
    (frame,) = adapter_for(kind).session_config_frames(SESSION, {})
    event = json.loads(frame)
    assert event["type"] == "session.update"
    assert event["session"] == {k: v for k, v in SESSION.items() if k != "model"}


def test_a_beta_upstream_gets_the_beta_shape():
    (frame,) = adapter_for("openai").session_config_frames(
        SESSION, {"protocol": "beta"}
    )
    session = json.loads(frame)["session"]
    assert session["modalities"] == ["text"]
    assert "output_modalities" not in session


@pytest.mark.parametrize("session", [{}, {"type": "realtime"}, {"model": "m"}])
def test_nothing_to_apply_sends_nothing(session):
    assert bindings.binding_frames(resolved("openai", session), log=LOG) == ()


def test_a_virtual_key_binds_nothing():
    plain = ResolvedCredential(ProviderTarget(1, "p", "openai", ""), Secret("s"), None)
    assert bindings.binding_frames(plain, log=LOG) == ()


@pytest.mark.parametrize("kind", ["google", "cartesia", "elevenlabs"])
def test_a_provider_that_takes_no_configuration_is_misconfigured(kind):
    assert not adapter_for(kind).applies_session_config
    with pytest.raises(GatewayError) as raised:
        bindings.binding_frames(resolved(kind, SESSION), log=LOG)
    assert raised.value.code == "provider_misconfigured"

"""The keys management commands, run through call_command."""

from __future__ import annotations

import datetime
import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from keys import crypto, services, tokens
from keys.models import Provider, VirtualKey
from keys.values import Secret
from tests.support.keys import UPSTREAM_SECRET, issue_key

pytestmark = pytest.mark.django_db

URL = "ws://127.0.0.1:9/v1/realtime"


def run(command: str, *args: str) -> str:
    """Run a command; its stdout and stderr together."""
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def make_provider(slug: str = "fake") -> Provider:
    return services.provider_create(slug=slug, kind="openai", upstream_url=URL)


def create_key(*args: str, name: str = "cli-key", provider: str = "fake") -> str:
    """Run create_virtual_key; its whole output."""
    return run("create_virtual_key", "--provider", provider, "--name", name, *args)


def last_line(output: str) -> str:
    return output.rstrip("\n").splitlines()[-1]


# --- create_provider ---------------------------------------------------------


def test_create_provider():
    output = run(
        "create_provider",
        "--slug",
        "openai-local",
        "--kind",
        "openai",
        "--upstream-url",
        URL,
    )
    provider = Provider.objects.get(slug="openai-local")
    assert (provider.kind, provider.upstream_url) == ("openai", URL)
    assert "openai-local" in output


def test_create_provider_blank_url_means_public_endpoint():
    run("create_provider", "--slug", "openai", "--kind", "openai")
    assert Provider.objects.get(slug="openai").upstream_url == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "nope"], "Unknown provider kind 'nope'"),
        (["--kind", "openai", "--upstream-url", "ws://example.com/v1"], "loopback"),
        (["--kind", "openai", "--upstream-url", "https://example.com"], "ws://"),
        (["--kind", "openai", "--upstream-url", "wss://u:p@example.com"], "URL"),
    ],
)
def test_create_provider_refuses_bad_input(args: list[str], message: str):
    with pytest.raises(CommandError, match=message):
        run("create_provider", "--slug", "bad", *args)
    assert not Provider.objects.exists()


def test_create_provider_refuses_a_duplicate_slug():
    make_provider("fake")
    with pytest.raises(CommandError, match="slug"):
        run("create_provider", "--slug", "fake", "--kind", "openai")
    assert Provider.objects.count() == 1


# --- create_virtual_key ------------------------------------------------------


def test_create_virtual_key_prints_only_the_token_on_the_last_line():
    make_provider()
    output = create_key("--secret", UPSTREAM_SECRET)

    token = last_line(output)
    assert tokens.looks_like_token(token)
    assert output.count(token) == 1
    assert UPSTREAM_SECRET not in output
    resolved = services.virtual_key_authenticate(token=token, model="gpt-realtime")
    assert resolved.credential == Secret(UPSTREAM_SECRET)
    assert resolved.key.name == "cli-key"


def test_create_virtual_key_reads_the_secret_from_stdin(monkeypatch):
    make_provider()
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{UPSTREAM_SECRET}\n"))
    output = create_key("--secret", "-")
    assert UPSTREAM_SECRET not in output
    resolved = services.virtual_key_authenticate(token=last_line(output), model="m")
    assert resolved.credential == Secret(UPSTREAM_SECRET)


def test_create_virtual_key_reads_the_secret_from_the_environment(monkeypatch):
    make_provider()
    monkeypatch.setenv("PROVIDER_KEY", UPSTREAM_SECRET)
    output = create_key("--secret-env", "PROVIDER_KEY")
    assert UPSTREAM_SECRET not in output
    resolved = services.virtual_key_authenticate(token=last_line(output), model="m")
    assert resolved.credential == Secret(UPSTREAM_SECRET)


def test_create_virtual_key_options():
    make_provider()
    before = timezone.now()
    create_key(
        "--secret",
        UPSTREAM_SECRET,
        "--models",
        "gpt-realtime, gpt-4o-*,,gpt-realtime",
        "--expires-in",
        "3600",
        "--max-sessions",
        "2",
    )
    key = VirtualKey.objects.get(name="cli-key")
    assert key.allowed_models == ["gpt-4o-*", "gpt-realtime"]
    assert key.max_concurrent_sessions == 2
    hour = datetime.timedelta(hours=1)
    assert before + hour <= key.expires_at <= timezone.now() + hour


def test_create_virtual_key_defaults_to_any_model_no_expiry_no_limit():
    make_provider()
    create_key("--secret", UPSTREAM_SECRET)
    key = VirtualKey.objects.get(name="cli-key")
    assert key.allowed_models == []
    assert key.expires_at is None
    assert key.max_concurrent_sessions is None


def test_create_virtual_key_refuses_an_unknown_provider():
    with pytest.raises(CommandError, match="No provider 'missing'"):
        create_key("--secret", UPSTREAM_SECRET, provider="missing")
    assert not VirtualKey.objects.exists()


def test_create_virtual_key_refuses_a_duplicate_name():
    make_provider()
    create_key("--secret", UPSTREAM_SECRET)
    with pytest.raises(CommandError, match="name") as caught:
        create_key("--secret", "sk-another-secret")
    assert "sk-another-secret" not in str(caught.value)
    assert VirtualKey.objects.count() == 1


@pytest.mark.parametrize("secret", ["", "   "])
def test_create_virtual_key_refuses_an_empty_secret(secret: str):
    make_provider()
    with pytest.raises(CommandError, match="empty"):
        create_key("--secret", secret)
    assert not VirtualKey.objects.exists()


def test_create_virtual_key_refuses_empty_stdin(monkeypatch):
    make_provider()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(CommandError, match="empty"):
        create_key("--secret", "-")
    assert not VirtualKey.objects.exists()


def test_create_virtual_key_refuses_an_unset_environment_variable(monkeypatch):
    make_provider()
    monkeypatch.delenv("NO_SUCH_PROVIDER_KEY", raising=False)
    with pytest.raises(CommandError, match=r"\$NO_SUCH_PROVIDER_KEY is not set"):
        create_key("--secret-env", "NO_SUCH_PROVIDER_KEY")
    assert not VirtualKey.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--secret"),  # one of --secret / --secret-env is required
        (["--secret", "x", "--secret-env", "VAR"], "not allowed with"),
        (["--secret", UPSTREAM_SECRET, "--expires-in", "0"], "--expires-in"),
        (["--secret", UPSTREAM_SECRET, "--max-sessions", "0"], "vk_max_sessions"),
        (["--secret", UPSTREAM_SECRET, "--name", "has space"], "name"),
    ],
)
def test_create_virtual_key_refuses_bad_options(args: list[str], message: str):
    make_provider()
    with pytest.raises(CommandError, match=message) as caught:
        run("create_virtual_key", "--provider", "fake", "--name", "cli-key", *args)
    assert UPSTREAM_SECRET not in str(caught.value)
    assert not VirtualKey.objects.exists()


# --- revoke_virtual_key ------------------------------------------------------


def test_revoke_virtual_key_marks_it_revoked():
    issued = issue_key(URL)
    other = issue_key(URL, name="other")
    output = run("revoke_virtual_key", issued.name)
    assert issued.name in output
    assert VirtualKey.objects.get(pk=issued.key_id).status == "revoked"
    assert VirtualKey.objects.get(pk=other.key_id).revoked_at is None


def test_revoke_virtual_key_twice_keeps_the_first_time():
    issued = issue_key(URL)
    run("revoke_virtual_key", issued.name)
    first = VirtualKey.objects.get(pk=issued.key_id).revoked_at
    run("revoke_virtual_key", issued.name)
    assert VirtualKey.objects.get(pk=issued.key_id).revoked_at == first


def test_revoke_virtual_key_refuses_an_unknown_name():
    with pytest.raises(CommandError, match="No virtual key named 'ghost'"):
        run("revoke_virtual_key", "ghost")


# --- generate_encryption_key and reencrypt_credentials -----------------------


def test_generate_encryption_key_prints_a_new_fernet_key():
    first, second = (run("generate_encryption_key").strip() for _ in range(2))
    assert first != second
    token = Fernet(first.encode("ascii")).encrypt(b"round trip")
    assert Fernet(first.encode("ascii")).decrypt(token) == b"round trip"


def test_reencrypt_credentials_moves_every_credential_to_the_first_key(
    encryption_keys,
):
    old, new = crypto.generate_key(), crypto.generate_key()
    encryption_keys(old)
    issued = [issue_key(URL, name=name) for name in ("one", "two")]

    encryption_keys(new, old)
    output = run("reencrypt_credentials")
    assert "Re-encrypted 2 credential(s)." in output
    assert UPSTREAM_SECRET not in output

    encryption_keys(new)  # the old key can now be retired
    for key in issued:
        resolved = services.virtual_key_authenticate(token=key.token, model="m")
        assert resolved.credential == Secret(UPSTREAM_SECRET)


def test_reencrypt_credentials_changes_nothing_when_a_value_is_unreadable(
    encryption_keys,
):
    encryption_keys(crypto.generate_key())
    issue_key(URL, name="orphaned")
    encryption_keys(crypto.generate_key())  # the key that wrote it is gone
    issue_key(URL, name="current")
    before = dict(VirtualKey.objects.values_list("name", "encrypted_credential"))

    with pytest.raises(CommandError, match="nothing was changed") as caught:
        run("reencrypt_credentials")
    assert "fernet$" not in str(caught.value)
    after = dict(VirtualKey.objects.values_list("name", "encrypted_credential"))
    assert after == before

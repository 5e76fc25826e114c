"""Providers and the virtual keys that stand for their credentials."""

from __future__ import annotations

import datetime
import ipaddress
from decimal import Decimal
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from keys import upstreams
from keys.kinds import provider_kinds

_LOOPBACK_NAMES = {"localhost"}


def validate_provider_kind(value: str) -> None:
    """A kind the gateway has an adapter for (see keys.kinds)."""
    kinds = provider_kinds.kinds()
    if value not in kinds:
        raise ValidationError(
            f"Unknown provider kind {value!r}; expected one of: {', '.join(kinds)}."
        )


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_upstream_url(value: str) -> None:
    """wss:// to a host on GATEWAY_UPSTREAM_HOSTS; plain ws:// only to this
    machine (tests, the fake)."""
    parts = urlsplit(value)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValidationError("The upstream URL must be a ws:// or wss:// URL.")
    if parts.scheme == "ws" and not _is_loopback(parts.hostname):
        raise ValidationError("Plain ws:// is allowed only to a loopback address.")
    if parts.username or parts.password:
        raise ValidationError("Put credentials on the virtual key, not in the URL.")
    _validate_upstream_host(parts.hostname)


def _validate_upstream_host(host: str) -> None:
    if not upstreams.url_host_allowed(f"wss://{host}"):
        raise ValidationError(
            f"The host {host} is not on GATEWAY_UPSTREAM_HOSTS, the hosts this "
            "gateway may send provider credentials to."
        )


class Provider(models.Model):
    """An upstream realtime service the gateway can reach."""

    slug = models.SlugField("slug", max_length=64, unique=True)
    kind = models.CharField(
        "kind",
        max_length=32,
        validators=[validate_provider_kind],
        help_text="Which adapter speaks to it, e.g. openai.",
    )
    upstream_url = models.CharField(
        "upstream URL",
        max_length=500,
        blank=True,
        validators=[validate_upstream_url],
        help_text="Blank: the provider's public endpoint.",
    )
    options = models.JSONField(
        "options",
        default=dict,
        blank=True,
        help_text="Settings of this kind of provider, e.g. for azure: "
        '{"resource": "my-resource", "api_style": "ga", "deployments": {}}; '
        'for openai: {"protocol": "beta"} for an upstream that still speaks beta.',
    )
    allow_passthrough = models.BooleanField(
        "accept raw provider keys",
        default=False,
        help_text="Let clients connect with their own provider key and this "
        "provider's slug instead of a virtual key (also needs "
        "GATEWAY_ALLOW_PASSTHROUGH=true).",
    )
    created_at = models.DateTimeField("created", default=timezone.now)

    class Meta:
        ordering = ["slug"]
        verbose_name = "provider"
        verbose_name_plural = "providers"
        permissions = [
            (
                "change_provider_endpoint",
                "Can change where a provider connects (its credentials go there)",
            )
        ]

    def __str__(self) -> str:
        return self.slug

    @property
    def destination(self) -> str:
        """scheme://host:port of the endpoint this provider dials ('' if unknown)."""
        return upstreams.destination(self.kind, self.upstream_url, self.options or {})

    def clean(self) -> None:
        """The options and the URL must suit the kind (checked by its adapter,
        see keys.kinds), and the endpoint they lead to must be on
        GATEWAY_UPSTREAM_HOSTS."""
        if not isinstance(self.options, dict):
            raise ValidationError({"options": "Options must be a JSON object."})
        if self.kind not in provider_kinds.kinds():
            return  # the kind field reports this
        try:
            provider_kinds.check_options(self.kind, self.options)
        except ValueError as exc:
            raise ValidationError({"options": str(exc)}) from None
        if self.upstream_url:
            try:
                validate_upstream_url(self.upstream_url)
            except ValidationError:
                return  # the field reports it, the host included
            try:
                provider_kinds.check_upstream_url(
                    self.kind, self.upstream_url, self.options
                )
            except ValueError as exc:
                raise ValidationError({"upstream_url": str(exc)}) from None
            return
        endpoint = upstreams.endpoint_url(self.kind, "", self.options)
        host = urlsplit(endpoint).hostname
        if host and not upstreams.url_host_allowed(endpoint):
            raise ValidationError(
                {
                    "options": f"The public endpoint's host {host} is not on "
                    "GATEWAY_UPSTREAM_HOSTS."
                }
            )


_NAME_VALIDATOR = RegexValidator(r"^[\w.@+-]+$", "Letters, digits and .@+-_ only.")

# The budget columns, declared once (`Budgets`) for keys and teams alike.
BUDGET_FIELDS = (
    "budget_usd_day",
    "budget_usd_month",
    "budget_tokens_day",
    "budget_tokens_month",
)


def _usd_budget(name: str) -> models.DecimalField:
    return models.DecimalField(
        name,
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Blank: no budget.",
    )


def _token_budget(name: str) -> models.PositiveBigIntegerField:
    return models.PositiveBigIntegerField(
        name, null=True, blank=True, help_text="Blank: no budget."
    )


class Budgets(models.Model):
    """What a key or a team may spend per UTC day and month, in USD and tokens
    (the cost and tokens of its sessions' rows); blank: no budget."""

    budget_usd_day = _usd_budget("budget per UTC day (USD)")
    budget_usd_month = _usd_budget("budget per UTC month (USD)")
    budget_tokens_day = _token_budget("budget per UTC day (tokens)")
    budget_tokens_month = _token_budget("budget per UTC month (tokens)")

    class Meta:
        abstract = True


class Team(Budgets):
    """Keys that share budgets (each key may have its own budgets as well)."""

    name = models.CharField(
        "name", max_length=100, unique=True, validators=[_NAME_VALIDATOR]
    )
    created_at = models.DateTimeField("created", default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = "team"
        verbose_name_plural = "teams"

    def __str__(self) -> str:
        return self.name


def _positive(name: str, help_text: str) -> models.PositiveIntegerField:
    return models.PositiveIntegerField(
        name,
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=help_text,
    )


class VirtualKey(Budgets):
    """A gateway key that stands for one encrypted provider credential."""

    name = models.CharField(
        "name", max_length=100, unique=True, validators=[_NAME_VALIDATOR]
    )
    # PROTECT: deleting a team must not silently lift its budgets off its keys;
    # move or delete the keys first.
    team = models.ForeignKey(
        Team,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="virtual_keys",
        verbose_name="team",
    )
    provider = models.ForeignKey(
        Provider,
        on_delete=models.PROTECT,
        related_name="virtual_keys",
        verbose_name="provider",
    )
    # fernet$<token>; see keys.crypto. Never rendered anywhere.
    encrypted_credential = models.TextField("encrypted credential", editable=False)
    # The provider's destination (scheme://host:port, see keys.upstreams) when
    # the credential was entered: the only place the credential may be sent.
    credential_destination = models.CharField(
        "credential entered for", max_length=300, blank=True, editable=False
    )
    key_prefix = models.CharField("key prefix", max_length=16, editable=False)
    # sha256$<hex>; see keys.tokens. The token itself is never stored.
    key_digest = models.CharField(
        "key digest", max_length=80, unique=True, editable=False
    )
    allowed_models = models.JSONField(
        "allowed models",
        default=list,
        blank=True,
        help_text="Empty: any model.",
    )
    max_concurrent_sessions = models.PositiveIntegerField(
        "max concurrent sessions",
        null=True,
        blank=True,
        help_text="Blank: no limit.",
    )
    sessions_per_minute = _positive(
        "sessions per minute",
        "Most sessions started in any 60 seconds, across all gateway processes. "
        "Blank: no limit.",
    )
    max_session_seconds = _positive(
        "max session seconds",
        "A session is closed after this long (4408). Blank: no limit.",
    )
    idle_timeout_seconds = _positive(
        "idle timeout (seconds)",
        "A session with no frame either way for this long is closed (4408). "
        "Blank: no limit.",
    )
    not_before = models.DateTimeField(
        "not before",
        null=True,
        blank=True,
        help_text="The key is refused until then. Blank: valid at once.",
    )
    expires_at = models.DateTimeField("expires", null=True, blank=True)
    revoked_at = models.DateTimeField("revoked", null=True, blank=True, editable=False)
    created_at = models.DateTimeField("created", default=timezone.now)
    last_used_at = models.DateTimeField("last used", null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "virtual key"
        verbose_name_plural = "virtual keys"
        indexes = [models.Index(fields=["created_at"], name="vk_created_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_concurrent_sessions__isnull=True)
                | models.Q(max_concurrent_sessions__gte=1),
                name="vk_max_sessions_positive",
            ),
            *(
                models.CheckConstraint(
                    condition=models.Q(**{f"{field}__isnull": True})
                    | models.Q(**{f"{field}__gte": 1}),
                    name=f"vk_{field}_positive",
                )
                for field in (
                    "sessions_per_minute",
                    "max_session_seconds",
                    "idle_timeout_seconds",
                )
            ),
            models.CheckConstraint(
                condition=models.Q(not_before__isnull=True)
                | models.Q(expires_at__isnull=True)
                | models.Q(not_before__lt=models.F("expires_at")),
                name="vk_not_before_before_expiry",
                violation_error_message="The key must start before it expires.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def masked_key(self) -> str:
        """The recognisable start of the key, the rest hidden."""
        return f"{self.key_prefix}…"

    def is_expired(self, now: datetime.datetime | None = None) -> bool:
        """True when the key is past its expiry."""
        return self.expires_at is not None and self.expires_at <= (
            now or timezone.now()
        )

    def is_not_yet_valid(self, now: datetime.datetime | None = None) -> bool:
        """True when the key's start (`not_before`) is still ahead."""
        return self.not_before is not None and self.not_before > (now or timezone.now())

    def credential_is_stale(self) -> bool:
        """True when the provider moved since the credential was entered (the key
        is refused until an admin enters the credential again)."""
        return self.credential_destination != self.provider.destination

    @property
    def status(self) -> str:
        """active, revoked, expired, 'not yet valid' or 'needs credential'."""
        if self.revoked_at is not None:
            return "revoked"
        if self.is_expired():
            return "expired"
        if self.is_not_yet_valid():
            return "not yet valid"
        if self.credential_is_stale():
            return "needs credential"
        return "active"


class EphemeralToken(models.Model):
    """A short-lived token a virtual key minted for a browser (`ek_…`).

    It stands for its key (revoking or deleting the key ends it) and binds the
    sessions opened with it to a model and a session configuration; see
    keys.ephemeral. Like a virtual key, only a prefix and a digest are stored.
    """

    virtual_key = models.ForeignKey(
        VirtualKey,
        on_delete=models.CASCADE,
        related_name="ephemeral_tokens",
        verbose_name="virtual key",
    )
    token_prefix = models.CharField("token prefix", max_length=16, editable=False)
    # sha256$<hex>; see keys.tokens. The token itself is never stored.
    token_digest = models.CharField(
        "token digest", max_length=80, unique=True, editable=False
    )
    model = models.CharField(
        "model", max_length=200, blank=True, help_text="Blank: the key's models."
    )
    session = models.JSONField(
        "session configuration",
        default=dict,
        blank=True,
        help_text="Applied to the provider's session before the client's first frame.",
    )
    created_at = models.DateTimeField("created", default=timezone.now)
    expires_at = models.DateTimeField("expires")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "ephemeral token"
        verbose_name_plural = "ephemeral tokens"
        indexes = [models.Index(fields=["expires_at"], name="ek_expires_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")),
                name="ek_expires_after_creation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.token_prefix}…"

    def is_expired(self, now: datetime.datetime | None = None) -> bool:
        """True when the token is past its expiry."""
        return self.expires_at <= (now or timezone.now())

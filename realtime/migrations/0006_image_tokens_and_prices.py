"""Image tokens on the session row and the price table; newer models' prices.

OpenAI's GA usage reports image tokens (`input_token_details.image_tokens`, and
`cached_tokens_details.image_tokens`), priced at their own rates. The prices
below were read on the models' pages on 2026-12-01, the date each `source`
names; they take effect from that date (the pages give no earlier one), so
sessions that started before it keep the prices of the broader patterns.

Not seeded, for want of a published per-modality price in the pages read:
Gemini 3.x Live models (third-party catalogues list only blended input/output
rates), Azure's prices for these models, and the image rates of `gpt-realtime`
and `gpt-realtime-mini` themselves. `gpt-realtime-2` is an exact name: the
pattern `gpt-realtime-2*` would also match `gpt-realtime-2025-08-28`.
"""

from decimal import Decimal

from django.db import migrations, models

READ = "2026-12-01"
MODELS = "https://developers.openai.com/api/docs/models/"

# (model, rates per 1M tokens: text in, cached text, audio in, cached audio,
#  image in, cached image, text out, audio out)
TOKEN_PRICES = [
    ("gpt-realtime-1.5*", "gpt-realtime-1.5", ("4", "0.4", "32", "0.4", "5", "0.5", "16", "64")),
    ("gpt-realtime-2", "gpt-realtime-2", ("4", "0.4", "32", "0.4", "5", "0.5", "24", "64")),
    ("gpt-realtime-2.1-mini*", "gpt-realtime-2.1-mini", ("0.6", "0.06", "10", "0.3", "0.8", "0.08", "2.4", "20")),
]  # fmt: skip
RATE_FIELDS = (
    "input_text_per_mtok",
    "cached_input_text_per_mtok",
    "input_audio_per_mtok",
    "cached_input_audio_per_mtok",
    "input_image_per_mtok",
    "cached_input_image_per_mtok",
    "output_text_per_mtok",
    "output_audio_per_mtok",
)
# A streaming transcription model priced by audio duration.
MINUTE_PRICES = [("gpt-realtime-whisper", "gpt-realtime-whisper", "0.017")]


def _rows():
    for model, page, rates in TOKEN_PRICES:
        fields = {name: Decimal(rate) for name, rate in zip(RATE_FIELDS, rates)}
        yield model, page, fields
    for model, page, per_minute in MINUTE_PRICES:
        yield model, page, {"transcription_per_minute": Decimal(per_minute)}


def seed(apps, schema_editor):
    ModelPrice = apps.get_model("realtime", "ModelPrice")
    for model, page, fields in _rows():
        ModelPrice.objects.get_or_create(
            provider_kind="openai",
            model=model,
            effective_from=READ,
            defaults={"source": f"{MODELS}{page} (read {READ})", **fields},
        )


def unseed(apps, schema_editor):
    ModelPrice = apps.get_model("realtime", "ModelPrice")
    for model, _, _ in _rows():
        ModelPrice.objects.filter(
            provider_kind="openai", model=model, effective_from=READ
        ).delete()


def _usd(name):
    return models.DecimalField(
        blank=True, decimal_places=6, max_digits=12, null=True, verbose_name=name
    )


class Migration(migrations.Migration):
    dependencies = [("realtime", "0005_session_end_reason")]

    operations = [
        migrations.AddField(
            model_name="modelprice",
            name="input_image_per_mtok",
            field=_usd("input image per 1M tokens"),
        ),
        migrations.AddField(
            model_name="modelprice",
            name="cached_input_image_per_mtok",
            field=_usd("cached input image per 1M tokens"),
        ),
        migrations.AddField(
            model_name="realtimesession",
            name="cached_image_tokens",
            field=models.PositiveBigIntegerField(
                default=0, verbose_name="cached image tokens"
            ),
        ),
        migrations.AddField(
            model_name="realtimesession",
            name="input_image_tokens",
            field=models.PositiveBigIntegerField(
                default=0, verbose_name="input image tokens"
            ),
        ),
        migrations.RunPython(seed, unseed),
    ]

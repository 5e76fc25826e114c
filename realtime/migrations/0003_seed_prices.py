"""Seed list prices (USD) with their publication dates; edit them in the admin.

Only prices attributable to a published list are seeded. Newer models (e.g.
gpt-realtime-1.5/-2, Gemini 3.x Live) and the plan-priced TTS providers
(Cartesia, ElevenLabs) are left for admins to add: sessions of models without a
price keep an empty cost.
"""

from decimal import Decimal

from django.db import migrations

OPENAI = "https://platform.openai.com/docs/pricing"
GOOGLE = "https://ai.google.dev/gemini-api/docs/pricing"

# (kind, model, effective_from, source, text in, cached text, audio in,
#  cached audio, text out, audio out), per 1M tokens.
SEEDS = [
    ("openai", "gpt-realtime*", "2025-08-28", OPENAI, "4.00", "0.40", "32.00", "0.40", "16.00", "64.00"),
    ("openai", "gpt-realtime-mini*", "2025-10-06", OPENAI, "0.60", "0.06", "10.00", "0.30", "2.40", "20.00"),
    ("openai", "gpt-4o-realtime-preview*", "2024-12-17", OPENAI, "5.00", "2.50", "40.00", "2.50", "20.00", "80.00"),
    ("openai", "gpt-4o-mini-realtime-preview*", "2024-12-17", OPENAI, "0.60", "0.30", "10.00", "0.30", "2.40", "20.00"),
    ("azure", "gpt-realtime*", "2025-08-28", "Azure OpenAI global deployment list price", "4.00", "0.40", "32.00", "0.40", "16.00", "64.00"),
    ("azure", "gpt-realtime-mini*", "2025-10-06", "Azure OpenAI global deployment list price", "0.60", "0.06", "10.00", "0.30", "2.40", "20.00"),
    ("google", "gemini-2.5-flash-native-audio*", "2025-09-23", GOOGLE, "0.50", None, "3.00", None, "2.00", "12.00"),
]  # fmt: skip


def seed(apps, schema_editor):
    ModelPrice = apps.get_model("realtime", "ModelPrice")
    for kind, model, date, source, *rates in SEEDS:
        text_in, cached_text, audio_in, cached_audio, text_out, audio_out = (
            Decimal(rate) if rate is not None else None for rate in rates
        )
        ModelPrice.objects.get_or_create(
            provider_kind=kind,
            model=model,
            effective_from=date,
            defaults={
                "source": source,
                "input_text_per_mtok": text_in,
                "cached_input_text_per_mtok": cached_text,
                "input_audio_per_mtok": audio_in,
                "cached_input_audio_per_mtok": cached_audio,
                "output_text_per_mtok": text_out,
                "output_audio_per_mtok": audio_out,
            },
        )


def unseed(apps, schema_editor):
    ModelPrice = apps.get_model("realtime", "ModelPrice")
    for kind, model, date, *_ in SEEDS:
        ModelPrice.objects.filter(
            provider_kind=kind, model=model, effective_from=date
        ).delete()


class Migration(migrations.Migration):
    dependencies = [("realtime", "0002_provider_options")]

    operations = [migrations.RunPython(seed, unseed)]

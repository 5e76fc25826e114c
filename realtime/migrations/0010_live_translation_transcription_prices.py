"""Prices of the time-billed interfaces: GPT-Live, translation, transcription.

Read on the models' pages on 2026-12-01, the date each `source` names, and in
force from that date (the pages give no earlier one):

- gpt-live-1 and gpt-live-1.1: "Voice sessions are billed by duration", $0.05 a
  minute active and $0.02 standby ("The lower standby rate applies to WebRTC
  sessions while inference is paused"); billed per second
  (developers.openai.com/api/docs/guides/voice-latency-cost). Backend model and
  tool usage is billed separately, at the backend model's own prices.
- gpt-realtime-translate: $0.034 a minute of audio (endpoint
  v1/realtime/translations).
- gpt-live-transcribe: $0.017 a minute (realtime transcription).
  gpt-realtime-whisper, at the same rate, was seeded by 0006.

Azure's prices for these models are not seeded: its pricing page gives none in
the pages read.
"""

from decimal import Decimal

from django.db import migrations

READ = "2026-12-01"
MODELS = "https://developers.openai.com/api/docs/models/"

PRICES = [
    ("gpt-live-1", {"per_active_minute": "0.05", "per_standby_minute": "0.02"}),
    ("gpt-live-1.1", {"per_active_minute": "0.05", "per_standby_minute": "0.02"}),
    ("gpt-realtime-translate", {"translation_per_minute": "0.034"}),
    ("gpt-live-transcribe", {"transcription_per_minute": "0.017"}),
]


def seed(apps, schema_editor):
    ModelPrice = apps.get_model("realtime", "ModelPrice")
    for model, rates in PRICES:
        ModelPrice.objects.get_or_create(
            provider_kind="openai",
            model=model,
            effective_from=READ,
            defaults={
                "source": f"{MODELS}{model} (read {READ})",
                **{name: Decimal(rate) for name, rate in rates.items()},
            },
        )


def unseed(apps, schema_editor):
    ModelPrice = apps.get_model("realtime", "ModelPrice")
    for model, _ in PRICES:
        ModelPrice.objects.filter(
            provider_kind="openai", model=model, effective_from=READ
        ).delete()


class Migration(migrations.Migration):
    dependencies = [("realtime", "0009_interfaces_and_session_time")]

    operations = [migrations.RunPython(seed, unseed)]

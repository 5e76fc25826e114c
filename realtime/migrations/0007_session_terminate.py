"""An operator can terminate a live session: the flag the session checks, and
the live sessions' admin (a proxy of the session log) with its permission."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("realtime", "0006_image_tokens_and_prices"),
    ]

    operations = [
        migrations.CreateModel(
            name="LiveSession",
            fields=[],
            options={
                "verbose_name": "live session",
                "verbose_name_plural": "live sessions",
                "permissions": [
                    ("terminate_livesession", "Can terminate a live session")
                ],
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("realtime.realtimesession",),
        ),
        migrations.AddField(
            model_name="realtimesession",
            name="terminate_requested_at",
            field=models.DateTimeField(
                blank=True, null=True, verbose_name="terminate requested"
            ),
        ),
    ]

"""Reading /metrics as Prometheus does: with its text parser."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from realtime.state import ProcessState


def parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a scrape: (name, labels, value)."""
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels`
    (0 when there are none)."""
    return sum(
        sample_value
        for sample_name, sample_labels, sample_value in parse(text)
        if sample_name == name
        and all(sample_labels.get(k) == v for k, v in labels.items())
    )


def exposition(state: ProcessState) -> str:
    """What /metrics would serve for this process state."""
    return generate_latest(state.metrics.registry).decode()

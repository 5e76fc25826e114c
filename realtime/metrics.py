"""Process-wide counters, exposed at /metrics in the Prometheus text format.

Updated when a session starts or ends, never per frame: a live session's
traffic shows up in the totals when it ends.
"""

from __future__ import annotations

from collections import Counter

from realtime.usage import Meter, Usage

_Series = tuple[str, tuple[tuple[str, str], ...]]

_HELP = {
    "gateway_sessions_started_total": "Sessions bridged to a provider.",
    "gateway_sessions_ended_total": "Sessions ended, by final status and reason.",
    "gateway_handshakes_refused_total": "Handshakes refused, by error code.",
    "gateway_messages_total": "Frames forwarded by ended sessions, by direction.",
    "gateway_bytes_total": "Bytes forwarded by ended sessions, by direction.",
    "gateway_tokens_total": "Tokens reported by providers, by kind.",
}


class Metrics:
    """This process's counters and its live-session gauge."""

    def __init__(self) -> None:
        self._counters: Counter[_Series] = Counter()
        self._live_sessions = 0

    def session_started(self, *, provider: str) -> None:
        """Count a session that is now bridged."""
        self._live_sessions += 1
        self._add("gateway_sessions_started_total", provider=provider)

    def session_ended(
        self,
        *,
        provider: str,
        status: str,
        meter: Meter,
        usage: Usage,
        bridged: bool,
        end_reason: str = "",
    ) -> None:
        """Count a session's end and add its traffic to the totals."""
        if bridged:
            self._live_sessions -= 1
        add = self._add
        add(
            "gateway_sessions_ended_total",
            provider=provider,
            status=status,
            end_reason=end_reason,
        )
        add("gateway_messages_total", meter.messages_from_client, direction="client")
        add(
            "gateway_messages_total",
            meter.messages_from_upstream,
            direction="upstream",
        )
        add("gateway_bytes_total", meter.bytes_from_client, direction="client")
        add("gateway_bytes_total", meter.bytes_from_upstream, direction="upstream")
        for kind, amount in (
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cached", usage.cached_tokens),
        ):
            add("gateway_tokens_total", amount, provider=provider, kind=kind)

    def handshake_refused(self, *, code: str) -> None:
        """Count a refused handshake (unknown key, revoked key, limit, ...)."""
        self._add("gateway_handshakes_refused_total", code=code)

    def live_sessions(self) -> int:
        """Sessions this process is bridging now."""
        return self._live_sessions

    def render(self) -> str:
        """All counters in the Prometheus text exposition format."""
        lines = [
            "# HELP gateway_live_sessions Sessions this process is bridging now.",
            "# TYPE gateway_live_sessions gauge",
            f"gateway_live_sessions {self._live_sessions}",
        ]
        for name, help_text in _HELP.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
            for (counter, labels), value in sorted(self._counters.items()):
                if counter == name:
                    rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                    lines.append(
                        f"{name}{{{rendered}}} {value}"
                        if rendered
                        else f"{name} {value}"
                    )
        return "\n".join(lines) + "\n"

    def _add(self, name: str, amount: int = 1, **labels: str) -> None:
        self._counters[(name, tuple(sorted(labels.items())))] += amount


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

"""Prometheus text exposition of the bot's state: pure formatting of a snapshot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Sample = tuple[Mapping[str, str], float]


@dataclass(frozen=True)
class Metric:
    name: str
    help: str
    kind: str  # gauge | counter
    samples: Sequence[Sample] = field(default_factory=tuple)


def format_metrics(metrics: Sequence[Metric]) -> str:
    """The text format Prometheus scrapes (``# HELP``, ``# TYPE``, one sample per line)."""
    lines: list[str] = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {metric.help}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for labels, value in metric.samples:
            lines.append(f"{metric.name}{_labels(labels)} {_number(value)}")
    return "\n".join(lines) + "\n"


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    body = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def gauge(name: str, help: str, value: float, **labels: str) -> Metric:
    return Metric(name, help, "gauge", ((labels, value),))

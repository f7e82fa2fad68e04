"""How the journal writes a build: JSON of the :class:`~bot.events.model.FailedBuild`. Pure."""

from __future__ import annotations

import json
from dataclasses import asdict

from bot.events.model import FailedBuild, Job


def build_to_json(build: FailedBuild) -> str:
    return json.dumps(asdict(build), sort_keys=True)


def build_from_json(text: str) -> FailedBuild:
    data = json.loads(text)
    data["jobs"] = tuple(Job(**job) for job in data["jobs"])
    return FailedBuild(**data)

"""channels.yaml routing: ER's file unchanged, and our routing keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import ConfigError
from bot.transports.base import Room
from bot.watch.routing import Subject, load_channels, parse_channels
from tests.support.paths import ROOT, UPSTREAM, require_upstream


def subject(**kw: Any) -> Subject:
    base: dict[str, Any] = {
        "server": "opendev",
        "project": "openstack/nova",
        "queue": "gate",
        "branch": "master",
    }
    return Subject(**{**base, "kind": "positive", **kw})


def irc(*names: str) -> list[Room]:
    return [Room("irc", name) for name in names]


def test_er_fixture_routes_as_er_did() -> None:
    require_upstream()
    routing = load_channels(UPSTREAM / "fixtures" / "recheckwatchbot.yaml")
    assert routing.rooms == irc("#openstack-nova", "#openstack-glance", "#openstack-qa")
    assert routing.rooms_for(subject()) == irc("#openstack-nova", "#openstack-qa")
    assert routing.rooms_for(subject(project="openstack/keystone")) == irc("#openstack-qa")
    # negative verdicts only where subscribed; check queue is silent (ER: gate only)
    assert routing.rooms_for(subject(kind="negative")) == irc("#openstack-qa")
    assert routing.rooms_for(subject(queue="check")) == []
    # a glance bug found on a nova change reaches the glance channel too (ER: bug targets)
    both = routing.rooms_for(subject(bug_projects=("glance",)))
    assert both == irc("#openstack-nova", "#openstack-glance", "#openstack-qa")
    assert "%(bugs)s" in routing.messages.found_bug


def test_example_channels_file_is_valid() -> None:
    routing = load_channels(ROOT / "channels.yaml")
    assert Room("console", "demo") in routing.rooms


def test_routing_keys_narrow_and_widen() -> None:
    routing = parse_channels(
        {
            "channels": {
                "neutron": {
                    "projects": ["openstack/neutron*"],
                    "events": ["positive", "negative"],
                    "queues": ["gate", "check"],
                    "jobs": ["neutron-*"],
                    "branches": ["master", "stable/*"],
                    "gerrit": ["opendev"],
                },
                "storage-team": {
                    "transport": "matrix",
                    "room": "#storage:example.org",
                    "projects": ["none"],
                    "events": ["positive"],
                    "teams": ["storage"],
                },
            }
        }
    )
    hit = subject(project="openstack/neutron-lib", queue="check", jobs=("neutron-tempest",))
    assert routing.rooms_for(hit) == irc("#neutron")
    assert routing.rooms_for(subject(project="openstack/neutron", jobs=("tox-py3",))) == []
    wrong_branch = subject(project="openstack/neutron", jobs=("neutron-x",), branch="feature/x")
    assert routing.rooms_for(wrong_branch) == []
    other_server = subject(project="openstack/neutron", jobs=("neutron-x",), server="rdo")
    assert routing.rooms_for(other_server) == []
    team = subject(project="openstack/cinder", teams=("storage",))
    assert routing.rooms_for(team) == [Room("matrix", "#storage:example.org")]
    assert (
        routing.rooms_for(subject(project="openstack/cinder", teams=("storage",), kind="negative"))
        == []
    )


def test_not_ready_goes_out_whatever_the_queue() -> None:
    routing = parse_channels({"qa": {"projects": ["all"], "events": ["negative"]}})
    assert routing.rooms_for(subject(kind="negative", queue="check")) == []
    assert routing.rooms_for(subject(kind="negative", queue="check", any_queue=True)) == irc("#qa")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"channels": {"a": {"projects": ["all"]}}}, "channels.a.events: Field required"),
        ({"channels": {"a": {"projects": [], "events": ["positive"]}}}, "at least one"),
        ({"channels": {"a": {"projects": ["x"], "events": ["sometimes"]}}}, "channels.a.events.0"),
        (
            {"channels": {"a": {"projects": ["x"], "events": ["positive"], "queue": ["gate"]}}},
            "channels.a.queue: Extra inputs",
        ),
        (
            {"channels": {"a": {"projects": ["x"], "events": ["positive"], "transport": "matrix"}}},
            "needs room",
        ),
        ({"channels": {}}, "channels: Dictionary should have at least 1 item"),
        (
            {
                "channels": {"a": {"projects": ["x"], "events": ["positive"]}},
                "messages": {"found_bug": "no placeholder"},
            },
            "%(bugs)s",
        ),
    ],
)
def test_invalid_channels_are_rejected_with_key_path(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=r"channels\.yaml") as err:
        parse_channels(data)
    assert message in str(err.value)


def test_bad_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text("channels:\n  a: [unclosed\n")
    with pytest.raises(ConfigError, match=r"channels.yaml: line \d+: invalid YAML"):
        load_channels(path)
    path.write_text(yaml.safe_dump(["a", "list"]))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_channels(path)


def test_channels_routed_to_a_transport_the_bot_does_not_run_are_named() -> None:
    routing = parse_channels(
        {
            "openstack-nova": {"projects": ["nova"], "events": ["positive"]},
            "openstack-qa": {"projects": ["all"], "events": ["negative"]},
            "m": {"transport": "matrix", "room": "#qa:example.org", "projects": ["all"]}
            | {"events": ["positive"]},
        }
    )
    assert routing.unserved({"matrix"}) == {"irc": ["openstack-nova", "openstack-qa"]}
    assert routing.unserved({"irc", "matrix"}) == {}

"""``recheckbot classify`` end to end: a recorded upstream event, its logs in osmem, the JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import bot.cli.classify  # noqa: F401  (registers the subcommand on the app)
from bot.cli.app import app
from bot.config import SearchSettings
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from tests.support.events import gerrit_fixture

LOGS = "http://logs.openstack.org/49/64750/6/gate"
#: The node-offline line ER's fixture logs carry (fixtures/tests/unit/logstash/1284371.json).
OFFLINE = (
    "<a href='https://jenkins06.openstack.org/computer/devstack-trusty-rax-ord-36314/log'>Looks "
    "like the node went offline during the build. Check the slave log for the details.</a>FATAL: "
    "/var/lib/jenkins/logs/slaves/devstack-trusty-rax-ord-36314/slave.log "
    "(No such file or directory)"
)
QUERIES = {
    "1284371": 'query: >\n  message:"Looks like the node went offline during the build"\n'
    '  AND message:"slave.log \\(No such file or directory\\)"\n  AND filename:"console.html"\n',
    "1260311": 'query: >-\n  message:"java.io.InterruptedIOException"\n  AND tags:"console.html"\n',
}


def event_of(change: str, patchset: str) -> dict[str, Any]:
    return next(
        e
        for e in gerrit_fixture()
        if e["change"]["number"] == change
        and e["patchSet"]["number"] == patchset
        and "Build failed" in e["comment"]
    )


def offline_evidence() -> dict[str, Any]:
    """The line 1284371 matched in python26's console: the second one :func:`console_docs`
    writes (the fixture's report time, less 20 min, plus 1 s)."""
    created = float(event_of("64750", "6")["eventCreatedOn"])
    logged = datetime.fromtimestamp(created, UTC) - timedelta(minutes=20) + timedelta(seconds=1)
    url = f"{LOGS}/gate-keystone-python26/d3fd328/console.html"
    return {"message": OFFLINE, "file": "console.html", "url": url, "logged": logged.isoformat()}


EXPECTED = {
    "change": "64750",
    "patchset": "6",
    "project": "openstack/keystone",
    "jobs": [
        {
            "name": "gate-keystone-python26",
            "url": f"{LOGS}/gate-keystone-python26/d3fd328",
            "voting": True,
            "ready": True,
            "bugs": ["1284371"],
            "evidence": {"1284371": [offline_evidence()]},
        },
        {
            "name": "gate-keystone-python27",
            "url": f"{LOGS}/gate-keystone-python27/5dd41fe",
            "voting": True,
            "ready": True,
            "bugs": [],
            "evidence": {},
        },
    ],
}


def console_docs(
    job: str, short_uuid: str, lines: list[str], created: float
) -> list[dict[str, Any]]:
    """A Jenkins-era console.html, the copy-console marker last, as 2014's logstash had it."""
    start = datetime.fromtimestamp(created, UTC) - timedelta(minutes=20)
    messages = [*lines, "[SCP] Copying console log."]
    return [
        {
            "@timestamp": (start + timedelta(seconds=n)).isoformat(),
            "message": message,
            "filename": "console.html",
            "tags": ["console.html", "console"],
            "build_name": job,
            "build_status": "FAILURE",
            "build_queue": "gate",
            "build_change": "64750",
            "build_patchset": "6",
            "build_short_uuid": short_uuid,
            "build_uuid": short_uuid + "0" * 25,
            "project": "openstack/keystone",
            "voting": "1",
            "log_url": f"{LOGS}/{job}/{short_uuid}/console.html",
        }
        for n, message in enumerate(messages)
    ]


@pytest.fixture
def event_file(tmp_path: Path) -> Path:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event_of("64750", "6")) + "\n")  # one stream-events line
    return path


@pytest.fixture
def queries_dir(tmp_path: Path) -> Path:
    repo = tmp_path / "queries"
    repo.mkdir()
    for bug, text in QUERIES.items():
        (repo / f"{bug}.yaml").write_text(text)
    return repo


@pytest.fixture
async def seeded(search_settings: SearchSettings) -> str:
    created = float(event_of("64750", "6")["eventCreatedOn"])
    backend = OpenSearchBackend(search_settings)
    await bulk_index(
        backend.client,
        console_docs("gate-keystone-python26", "d3fd328", ["Started by user", OFFLINE], created)
        + console_docs(
            "gate-keystone-python27", "5dd41fe", ["ERROR: InvocationError: tox -e py27"], created
        ),
    )
    await backend.close()
    return search_settings.url


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("RECHECKBOT_"):
            monkeypatch.delenv(name)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["classify", *args])


@pytest.mark.usefixtures("clean_env")
def test_json_for_the_recorded_event(seeded: str, event_file: Path, queries_dir: Path) -> None:
    result = invoke(str(event_file), "--json", "--wait", "0", "--es-url", seeded,
                    "--queries", str(queries_dir))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == EXPECTED


@pytest.mark.usefixtures("clean_env")
def test_readable_summary_and_default_wait(
    seeded: str, event_file: Path, queries_dir: Path
) -> None:
    # Without --wait the deadline is 20 min after the event: long past for a 2014 event.
    result = invoke(str(event_file), "--es-url", seeded, "--queries", str(queries_dir))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "openstack/keystone change 64750,6 (gate queue): 2 failed jobs",
        "  gate-keystone-python26: 1284371 https://bugs.launchpad.net/bugs/1284371",
        f"    1284371 matched in console.html: {OFFLINE}",
        "  gate-keystone-python27: unrecognized error",
    ]


@pytest.mark.usefixtures("clean_env")
def test_missing_logs_are_not_ready(search_settings: SearchSettings, event_file: Path,
                                    queries_dir: Path) -> None:  # fmt: skip
    result = invoke(str(event_file), "--json", "--wait", "0", "--es-url", search_settings.url,
                    "--queries", str(queries_dir))  # fmt: skip
    assert result.exit_code == 0, result.output
    jobs = json.loads(result.stdout)["jobs"]
    assert [(j["ready"], j["bugs"]) for j in jobs] == [(False, []), (False, [])]
    text = invoke(str(event_file), "--wait", "0", "--es-url", search_settings.url,
                  "--queries", str(queries_dir)).stdout  # fmt: skip
    assert "gate-keystone-python26: logs not ready (missing: console end marker)" in text


@pytest.mark.usefixtures("clean_env")
def test_events_that_are_not_failures(tmp_path: Path, queries_dir: Path) -> None:
    succeeded = tmp_path / "ok.json"
    succeeded.write_text(json.dumps(gerrit_fixture()[0], indent=2))  # pretty-printed is fine
    result = invoke(str(succeeded), "--queries", str(queries_dir), "--es-url", "http://127.0.0.1:9")
    assert result.exit_code != 0
    assert result.stderr.strip() == "recheckbot: error: not a failed build: build succeeded"
    many = tmp_path / "all.json"
    many.write_text("\n".join(json.dumps(e) for e in gerrit_fixture()[:2]))
    result = invoke(str(many), "--queries", str(queries_dir))
    assert result.exit_code != 0
    assert "more than one JSON value" in result.stderr
    by_human = tmp_path / "human.json"
    by_human.write_text(json.dumps(event_of("64750", "6")))
    result = invoke(str(by_human), "--ci-account", "zuul", "--queries", str(queries_dir))
    assert "author 'jenkins' is not a CI account" in result.stderr


@pytest.mark.usefixtures("clean_env")
def test_installed_script(seeded: str, event_file: Path, queries_dir: Path) -> None:
    script = Path(sys.executable).with_name("recheckbot")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECHECKBOT_")}
    done = subprocess.run(
        [str(script), "classify", str(event_file), "--json", "--wait", "0", "--es-url", seeded,
         "--queries", str(queries_dir)],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == EXPECTED

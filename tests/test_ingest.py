"""``recheckbot ingest``: a real-shaped Zuul log tree on 127.0.0.1 → osmem → a verdict."""

from __future__ import annotations

import asyncio
import gzip
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from typer.testing import CliRunner

import bot.cli.ingest  # noqa: F401  (registers the subcommand until bot.cli imports it)
from bot.bugs import Bug
from bot.cli import app
from bot.config import SearchSettings
from bot.events.model import FailedBuild, Job
from bot.events.parse import parse_event
from bot.events.source import RawEvent
from bot.ingest import IngestError, IngestSettings, ingest_build, ingest_tree
from bot.ingest.fetch import LogFetcher
from bot.ingest.logs import build_info, documents, log_level, manifest_files, parse_timestamp
from bot.queries import load_queries
from bot.search.opensearch import OpenSearchBackend
from bot.watch.classify import Classifier, classify_when_ready
from tests.support.builds import failed_build
from tests.support.logserver import File, LogServer, manifest
from tests.support.paths import ROOT

runner = CliRunner()

START = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=123456)
UUID = "4bc5a41d39c94a1d8d5e6b4e10a4f1f2"
JOB_PATH = "56/123456/3/gate/tempest-full-py3/4bc5a41/"
END_MARKER = (
    "POST-RUN END RESULT_NORMAL: [trusted : opendev.org/opendev/base-jobs/playbooks/base/"
    "post-logs.yaml@master]"
)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def zuul_line(seconds: float, text: str) -> str:
    return f"{at(seconds):%Y-%m-%d %H:%M:%S.%f} | {text}"


def journal_line(seconds: float, text: str) -> str:
    return f"{at(seconds):%b %d %H:%M:%S.%f} np0038-rax-dfw {text}"


JOB_OUTPUT = "\n".join(
    [
        zuul_line(0, "Job console starting"),
        zuul_line(1, "Updating git repos"),
        zuul_line(2, "RUN START: [untrusted : opendev.org/openstack/devstack/playbooks/pre.yaml]"),
        zuul_line(60, "controller | + ./stack.sh:main:751 :   apt_get_update"),
        zuul_line(61, "controller | Failed to update apt repos, we're dead now"),
        "    a continuation line without a time stamp",
        zuul_line(62, "controller | ERROR: the main setup script run by this job failed"),
        zuul_line(300, END_MARKER),
        "",
    ]
)
SCREEN_N_CPU = "\n".join(
    [
        journal_line(30, "nova-compute[4242]: INFO nova.service [-] Starting compute node"),
        journal_line(
            40,
            "nova-compute[4242]: ERROR nova.compute.manager [None req-1] "
            "libvirt.libvirtError: internal error: process exited while connecting",
        ),
        journal_line(41, "nova-compute[4242]: WARN nova.virt.libvirt.driver [-] retrying"),
    ]
)
SCREEN_C_API = journal_line(
    50,
    "cinder-api[777]: ERROR cinder.api [-] tooz.coordination.ToozConnectionError: "
    "Service Unavailable",
)
SYSLOG = journal_line(55, "kernel: Out of memory: Killed process 1234 (qemu-kvm)")
QUERIES = {
    "9000001": 'message:"Out of memory: Killed process" AND tags:"syslog.txt"',
    "9000002": 'message:"libvirt.libvirtError: internal error" AND tags:"screen-n-cpu.txt"',
    "9000003": 'message:"never logged anywhere" AND tags:"console"',
}


def zuul_tree() -> dict[str, File]:
    """What OpenDev's log storage holds for one devstack job (a few files of it)."""
    files = {
        "job-output.txt": File(JOB_OUTPUT.encode()),
        "logs/screen-n-cpu.txt": File(SCREEN_N_CPU.encode()),
        # Stored compressed and served with Content-Encoding (swift's way)...
        "logs/screen-c-api.txt": File(
            gzip.compress(SCREEN_C_API.encode()), {"Content-Encoding": "gzip"}
        ),
        # ...or stored as a .gz file and served as such (older log servers).
        "logs/syslog.txt.gz": File(
            gzip.compress(SYSLOG.encode()), {"Content-Type": "application/gzip"}
        ),
        "logs/etc/nova/nova.conf": File(b"[DEFAULT]\ndebug = True\n"),
        "zuul-info/inventory.yaml": File(b"all: {}\n"),
    }
    files["zuul-manifest.json"] = File(manifest(sorted(files)))
    return files


@pytest.fixture
async def log_server() -> AsyncIterator[LogServer]:
    async with LogServer(zuul_tree(), prefix=JOB_PATH) as server:
        yield server


def zuul_event(job_url: str) -> dict[str, Any]:
    """Zuul's "Build failed" comment on change 123456,3 pointing at the job's logs."""
    comment = (
        "Patch Set 3: Verified-2\n\nBuild failed (gate pipeline).  For information on how to "
        "proceed, see https://docs.opendev.org/opendev/infra-manual/latest/\n\n"
        f"- tempest-full-py3 {job_url} : FAILURE in 42m 07s\n"
        "- openstack-tox-pep8 https://logs.example.org/56/123456/3/gate/openstack-tox-pep8/"
        "1a2b3c4/ : SUCCESS in 3m 05s\n"
    )
    return {
        "type": "comment-added",
        "author": {"name": "Zuul", "username": "zuul"},
        "comment": comment,
        "change": {"project": "openstack/nova", "branch": "master", "number": 123456},
        "patchSet": {"number": 3},
        "eventCreatedOn": int(at(3600).timestamp()),
    }


def reported_build(job_url: str) -> FailedBuild:
    """The build :func:`zuul_event` reports, as the event parser makes it."""
    found = parse_event(RawEvent(server="review", data=zuul_event(job_url)), ci_accounts=["zuul"])
    assert isinstance(found, FailedBuild), found
    return found


def query_repo(tmp_path: Path) -> Path:
    """Two real upstream queries (console; Content-Encoding gzip file) and three of our own."""
    repo = tmp_path / "queries"
    repo.mkdir()
    for bug in ("1541364", "1810526"):
        shutil.copy(ROOT / "queries" / f"{bug}.yaml", repo)
    for bug, lucene in QUERIES.items():
        (repo / f"{bug}.yaml").write_text(f"query: '{lucene}'\n")
    return repo


async def search(settings: SearchSettings, lucene: str) -> list[dict[str, Any]]:
    backend = OpenSearchBackend(settings)
    try:
        body = {"size": 100, "query": {"query_string": {"query": lucene}}}
        response = await backend.search(body)
    finally:
        await backend.close()
    return [hit["_source"] for hit in response["hits"]["hits"]]


async def test_zuul_tree_is_ingested_and_the_build_classified(
    log_server: LogServer, search_settings: SearchSettings, tmp_path: Path
) -> None:
    build = reported_build(f"{log_server.url}/logs/{JOB_PATH}")
    job = build.failed_jobs[0]
    backend = OpenSearchBackend(search_settings)
    try:
        count = await ingest_build(backend, build, job, IngestSettings())
        repo = load_queries(query_repo(tmp_path))
        assert not repo.problems
        verdict = await classify_when_ready(build, Classifier(repo.queries), backend)
    finally:
        await backend.close()

    # 8 console lines + 3 + 1 + 1; nova.conf and zuul-info/ are not among the globs.
    assert count == 13
    assert "logs/etc/nova/nova.conf" not in log_server.requests
    [judged] = verdict.jobs
    assert judged.ready, judged.missing
    assert judged.bugs == ("1541364", "1810526", "9000001", "9000002")


async def test_documents_carry_the_build_fields_and_line_times(
    log_server: LogServer, search_settings: SearchSettings
) -> None:
    build = reported_build(f"{log_server.url}/logs/{JOB_PATH}")
    backend = OpenSearchBackend(search_settings)
    try:
        await ingest_build(backend, build, build.failed_jobs[0], IngestSettings())
    finally:
        await backend.close()

    [apt] = await search(search_settings, 'message:"Failed to update apt repos"')
    assert apt["@timestamp"] == at(61).isoformat()
    # logsender's layout: the message after the console's "TIMESTAMP | ", the file's own URL,
    # configured tags then the base name, integers, no short uuid.
    assert apt["message"] == "controller | Failed to update apt repos, we're dead now"
    assert apt["filename"] == "job-output.txt"
    assert apt["tags"] == ["console", "console.html", "job-output.txt"]
    assert apt["log_url"] == f"{log_server.url}/logs/{JOB_PATH}job-output.txt"
    expected = {
        "build_name": "tempest-full-py3",
        "build_status": "FAILURE",
        "build_queue": "gate",
        "build_branch": "master",
        "build_change": 123456,
        "build_patchset": "3",
        "build_ref": "refs/changes/56/123456/3",
        "build_node": "zuul-executor",
        "node_provider": "local",
        "project": "openstack/nova",
        "voting": 1,
    }
    assert {key: apt[key] for key in expected} == expected
    assert "build_short_uuid" not in apt
    # A line without a stamp sorts with the line before it.
    [cont] = await search(search_settings, 'message:"continuation line"')
    assert cont["@timestamp"] == at(61).isoformat()

    [libvirt] = await search(search_settings, 'message:"process exited while connecting"')
    assert (libvirt["filename"], libvirt["loglevel"]) == ("logs/screen-n-cpu.txt", "ERROR")
    assert libvirt["@timestamp"] == at(40).isoformat()
    [oom] = await search(search_settings, 'message:"Out of memory"')
    assert (oom["filename"], oom["tags"]) == ("logs/syslog.txt", ["syslog.txt"])
    # The link opens the file as the server stores it.
    assert oom["log_url"] == f"{log_server.url}/logs/{JOB_PATH}logs/syslog.txt.gz"
    warned = await search(search_settings, "loglevel:WARNING")
    assert [doc["filename"] for doc in warned] == ["logs/screen-n-cpu.txt"]


class Collect:
    """A sink that keeps what it is given (no search server needed)."""

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []

    async def __call__(self, docs: list[dict[str, Any]]) -> int:
        self.docs += docs
        return len(docs)


async def ingest_collect(
    url: str, settings: IngestSettings, sink: Collect | None = None
) -> Collect:
    """Ingest the tree at ``url`` into a collecting sink."""
    sink = sink or Collect()
    async with aiohttp.ClientSession() as session:
        build = reported_build(url)
        info = build_info(build, build.failed_jobs[0], url)
        await ingest_tree(info, LogFetcher(session, settings), settings, sink)
    return sink


async def test_jenkins_tree_found_through_directory_listings() -> None:
    files = {
        "": File(b'<html><a href="console.html">console.html</a> <a href="logs/">logs/</a>'),
        "console.html": File(
            b"<pre>2013-10-01 12:00:00.000 | <span class='x'>Started by user</span>\n"
            b"2013-10-01 12:00:05.000 | ERROR: apt &amp; co broke</pre>\n"
        ),
        "logs/": File(
            b'<a href="screen-n-api.txt.gz">s</a><a href="../console.html">up</a>'
            b'<a href="?C=M;O=A">sort</a><a href="https://elsewhere.example/x.txt">x</a>'
        ),
        "logs/screen-n-api.txt.gz": File(gzip.compress(b"2013-10-01 12:00:01.000 1 INFO x\n")),
    }
    async with LogServer(files) as server:
        sink = await ingest_collect(f"{server.url}/logs/", IngestSettings())
    by_file = {doc["filename"]: doc for doc in sink.docs}
    assert set(by_file) == {"console.html", "logs/screen-n-api.txt"}
    messages = [doc["message"] for doc in sink.docs if doc["filename"] == "console.html"]
    assert messages[1] == "ERROR: apt & co broke"
    assert by_file["console.html"]["tags"] == ["console", "console.html"]
    # The console is indexed last: its end marker must not beat the other files in.
    assert sink.docs[-1]["filename"] == "console.html"


async def test_size_caps_hold_for_plain_and_gzip_bomb_files() -> None:
    big = b"".join(b"line %06d of a very long log\n" % n for n in range(20_000))
    bomb = gzip.compress(b"0" * 50_000_000)  # 50 MB of zeros in ~50 KB
    files = {
        "job-output.txt": File(big),
        "logs/syslog.txt.gz": File(bomb),
        "zuul-manifest.json": File(manifest(["job-output.txt", "logs/syslog.txt.gz"])),
    }
    settings = IngestSettings(max_file_bytes=64 * 1024)
    async with LogServer(files) as server:
        sink = await ingest_collect(f"{server.url}/logs/", settings)
    console = [d["message"] for d in sink.docs if d["filename"] == "job-output.txt"]
    assert 0 < len(console) < 20_000
    assert all(line.endswith("of a very long log") for line in console)  # cut at a line end
    syslog = [d for d in sink.docs if d["filename"] == "logs/syslog.txt"]
    assert sum(len(d["message"]) for d in syslog) <= 64 * 1024


async def test_build_page_is_resolved_through_zuul_api(log_server: LogServer) -> None:
    log_server.builds[UUID] = f"{log_server.url}/logs/{JOB_PATH}"
    build = reported_build(f"{log_server.url}/t/openstack/build/{UUID}")
    assert build.failed_jobs[0].uuid == UUID
    count = await ingest_build(None, build, build.failed_jobs[0], IngestSettings())
    assert count == 13

    missing = reported_build(f"{log_server.url}/t/openstack/build/{'0' * 32}")
    with pytest.raises(IngestError, match="no log_url"):
        await ingest_build(None, missing, missing.failed_jobs[0], IngestSettings())


async def test_no_console_log_writes_nothing() -> None:
    files = {"logs/syslog.txt": File(b"Nov 26 08:00:00 host kernel: boom\n")}
    async with LogServer(files) as server:
        sink = Collect()
        with pytest.raises(IngestError, match="no console log"):
            await ingest_collect(f"{server.url}/logs/", IngestSettings(), sink)
    assert sink.docs == []


async def test_unreachable_log_server_is_one_clear_error() -> None:
    job = Job("tempest-full-py3", "FAILURE", url="http://127.0.0.1:1/logs/x/")
    build = failed_build(job)
    with pytest.raises(IngestError, match=r"127\.0\.0\.1:1"):
        await ingest_build(None, build, job, IngestSettings(timeout=5))


def test_time_stamps_and_levels() -> None:
    around = datetime(2026, 1, 2, tzinfo=UTC)
    cases = {
        "2026-11-26 08:00:00.123456 | x": datetime(2026, 11, 26, 8, 0, 0, 123456, UTC),
        "2026-11-26 08:00:00.123 4242 ERROR nova": datetime(2026, 11, 26, 8, 0, 0, 123000, UTC),
        "2026-11-26T08:00:00Z x": datetime(2026, 11, 26, 8, tzinfo=UTC),
        "2026-11-26T08:00:00+0100 x": datetime(2026, 11, 26, 7, tzinfo=UTC),
        "Jan  2 03:04:05 host kernel: x": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "Dec 31 23:59:59.5 host x": datetime(2025, 12, 31, 23, 59, 59, 500000, UTC),
        "2026-13-45 08:00:00 not a date": None,
        "plain text": None,
    }
    for line, expected in cases.items():
        assert parse_timestamp(line, around) == expected, line
    assert log_level("2026-11-26 08:00:00.123 4242 WARN nova.x") == "WARNING"
    assert log_level("INFORMATION only") is None


def test_build_fields_come_from_the_report_where_it_says_them() -> None:
    zuul = "https://zuul.example.org/t/openstack"
    job = Job("tempest-full-py3", "FAILURE", url=f"{zuul}/build/{UUID}", uuid=UUID, voting=False)
    build = failed_build(
        job,
        change="123456",
        patchset="3",
        buildset_url=f"{zuul}/buildset/{'b' * 32}",
        change_url="https://review.example.org/c/openstack/nova/+/123456",
    )
    info = build_info(build, job, "https://logs.example.org/x")
    assert info.log_root == "https://logs.example.org/x/"
    assert info.fields == {
        "build_name": "tempest-full-py3",
        "build_status": "FAILURE",
        "build_queue": "gate",
        "build_change": 123456,
        "build_patchset": "3",
        "build_ref": "refs/changes/56/123456/3",
        "build_uuid": UUID,
        "build_set": "b" * 32,
        "project": "openstack/nova",
        "voting": 0,
        "tenant": "openstack",
        "change_url": "https://review.example.org/c/openstack/nova/+/123456",
        "build_node": "zuul-executor",
        "node_provider": "local",
    }
    text = "2026-11-26 08:00:00.123456 | a | b\nplain | text\n2026-11-26 08:00:01.5 | \n"
    docs = list(documents(text, "controller/logs/devstacklog.txt.gz", info))
    # Only a console line's "TIMESTAMP | " goes; a line left empty by it goes too.
    assert [d["message"] for d in docs] == ["a | b", "plain | text"]
    assert docs[0]["tags"] == ["devstacklog.txt"]
    assert docs[0]["log_url"] == "https://logs.example.org/x/controller/logs/devstacklog.txt.gz"


def test_hostile_manifest_names_stay_inside_the_tree() -> None:
    tree = {
        "tree": [
            {"name": "../../etc/passwd"},
            {"name": "logs", "children": [{"name": "a.txt"}, {"name": ".."}, "junk"]},
            {"name": "b/c"},
            {"name": 7},
        ]
    }
    assert manifest_files(tree) == ["logs/a.txt"]
    assert manifest_files({"tree": "nope"}) == []


async def test_cli_ingests_and_dry_runs(
    log_server: LogServer, search_settings: SearchSettings
) -> None:
    url = f"{log_server.url}/logs/{JOB_PATH}"
    args = ["ingest", url, "--job", "tempest-full-py3", "--change", "123456", "--patchset", "3"]
    args += ["--project", "openstack/nova", "--es-url", search_settings.url]
    dry = await asyncio.to_thread(runner.invoke, app, [*args, "--dry-run"])
    assert dry.exit_code == 0, (dry.output, dry.exception)
    assert dry.stdout.strip() == "13"
    assert await search(search_settings, "*") == []

    real = await asyncio.to_thread(runner.invoke, app, [*args, "--file", "logs/syslog.txt"])
    assert real.exit_code == 0, (real.output, real.exception)
    assert real.stdout.strip() == "9"  # the console and syslog only
    docs = await search(search_settings, "build_change:123456 AND voting:1")
    assert len(docs) == 9
    assert {(d["build_change"], d["voting"], "build_short_uuid" in d) for d in docs} == {
        (123456, 1, False)
    }
    assert all(d["log_url"].startswith(url) for d in docs)

    gone = await asyncio.to_thread(
        runner.invoke, app, ["ingest", f"{log_server.url}/logs/nothing/", *args[2:]]
    )
    assert gone.exit_code == 2
    assert gone.stderr.startswith("recheckbot: error: ")
    assert "no console log" in gone.stderr
    assert "Traceback" not in gone.output


async def test_the_bot_ingests_before_judging_when_configured(
    log_server: LogServer, search_settings: SearchSettings, tmp_path: Path
) -> None:
    """``watch.ingest: true``: the judge fetches the logs itself, then classifies them."""
    from bot.search import writer_of
    from bot.search.breaker import CircuitBreaker, GuardedBackend
    from bot.watch.judging import Judge, log_ingest
    from bot.watch.readiness import ReadinessMonitor

    build = reported_build(f"{log_server.url}/logs/{JOB_PATH}")
    repo = load_queries(query_repo(tmp_path))
    inner = OpenSearchBackend(search_settings.model_copy(update={"retries": 0}))
    backend = GuardedBackend(inner, CircuitBreaker(failures=3, cooldown=5.0))
    writer = writer_of(backend)
    assert writer is not None
    monitor = ReadinessMonitor(backend, interval=0.2)

    async def untracked(bug: Bug) -> Bug | None:
        return None

    ingest = log_ingest(writer, IngestSettings())
    judge = Judge(Classifier(repo.queries), backend, monitor, untracked, 30.0, ingest)
    try:
        outcome = await judge(build)
    finally:
        await monitor.close()
        await backend.close()
    [job] = outcome.jobs
    assert job.name == "tempest-full-py3"
    assert [bug.id for bug in job.bugs] == ["1541364", "1810526", "9000001", "9000002"]
    assert outcome.not_ready == ()

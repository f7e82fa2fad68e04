"""``!test`` and ``!flaky`` through the dispatcher, on test results written to the test's osmem:
the figures, the known bugs, the limits (rate, days, timeouts) and the refusals."""

from __future__ import annotations

from datetime import timedelta

from bot.config.chat import RateLimit
from bot.search.indexing import bulk_index
from commands.flaky import short_name
from tests.support.chat import OPS, SETTINGS, ChatHarness, FakeServices
from tests.support.search import Recording
from tests.support.subunit import Run, all_docs

DAY = timedelta(days=1)
#: Named by the upstream query 1775947's test_ids.
TAGGED = (
    "tempest.api.compute.servers.test_device_tagging.TaggedAttachmentsTest.test_tagged_attachment"
)
CREATE = "tempest.api.compute.servers.test_servers.ServersTestJSON.test_create_server"
CREATE_MULTI = (
    "tempest.api.compute.servers.test_servers.ServersTestMultiNodeJSON.test_create_server"
)
VOLUME = "tempest.api.volume.test_volumes_get.VolumesGetTest.test_volume_create_get_delete"
OK, FAIL = "success", "fail"
RUNS = [
    # TAGGED fails on change 100 and passes on its recheck: flaky; fails again on 101.
    Run(1, "tempest-full", 100, 1, 2 * DAY, {TAGGED: (FAIL, 3.0), CREATE: (OK, 10.0)}),
    Run(2, "tempest-full", 100, 1, 1 * DAY, {TAGGED: (OK, 3.0), CREATE: (OK, 11.0)}),
    Run(3, "tempest-full", 101, 1, 3 * DAY, {TAGGED: (FAIL, 4.0), CREATE: (FAIL, 12.0)}),
    # VOLUME fails on neutron's change and passes on its recheck: flaky in neutron only.
    Run(4, "neutron-tempest", 200, 2, 2 * DAY, {VOLUME: (FAIL, 2.0)}, project="openstack/neutron"),
    Run(5, "neutron-tempest", 200, 2, 1 * DAY, {VOLUME: (OK, 2.0)}, project="openstack/neutron"),
    Run(6, "tempest-multinode", 102, 1, 1 * DAY, {CREATE_MULTI: (OK, 20.0)}),
]


async def seed(services: FakeServices) -> None:
    await bulk_index(services.search.client, all_docs(RUNS))


async def test_test_gives_the_figures_the_flakiness_and_the_known_bugs(
    services: FakeServices,
) -> None:
    await seed(services)
    chat = ChatHarness(services)
    (reply,) = await chat.run_command("!test test_tagged_attachment")
    head, tail = reply.splitlines()
    assert head == (
        f"{TAGGED} over 7 d: 2 failed of 3 runs (67%) in tempest-full (2)"
        " — flaky: it failed and then passed on a recheck"
    )
    assert tail == (
        f"last failure: {RUNS[0].log_dir} · known bugs: 1775947 "
        "https://bugs.launchpad.net/bugs/1775947"
    )


async def test_test_prefers_the_exact_name_and_counts_the_others(
    services: FakeServices,
) -> None:
    await seed(services)
    chat = ChatHarness(services)
    (several,) = await chat.run_command("!test ServersTest")
    head, tail = several.splitlines()
    # The one that failed most is shown; the other match is counted.
    assert head == (
        f"{CREATE} over 7 d: 1 failed of 3 runs (33%) in tempest-full (1) (1 more tests match)"
    )
    assert tail == f"last failure: {RUNS[2].log_dir} · no known bug names it"
    (exact,) = await chat.run_command(f"!test {CREATE_MULTI}")
    assert exact.splitlines() == [
        f"{CREATE_MULTI} over 7 d: never failed in 1 runs",
        "no known bug names it",
    ]
    (none,) = await chat.run_command("!test test_nothing_like_it")
    assert none == 'no test matching "test_nothing_like_it" ran in the last 7 d'


async def test_test_refuses_what_would_scan_every_name(chat: ChatHarness) -> None:
    assert await chat.run_command("!test") == ["usage: !test <test name or part of it> [--days N]"]
    assert await chat.run_command("!test abc") == ["give 6 to 200 characters of the test's name"]
    (wild,) = await chat.run_command("!test test_*_server")
    assert wild.startswith("a test name or a part of it (letters, digits and")
    assert await chat.run_command("!test test_create_server --days 90") == [
        "--days must be between 1 and 14 for non-admins"
    ]


async def test_flaky_lists_the_flakiest_tests(services: FakeServices) -> None:
    await seed(services)
    chat = ChatHarness(services)
    (everywhere,) = await chat.run_command("!flaky")
    assert everywhere.splitlines() == [
        "flakiest tests over 7 d",
        f"1. TaggedAttachmentsTest.test_tagged_attachment: went green on 1 recheck, failed 2 of 3"
        f" runs (67%) · last failure: {RUNS[0].log_dir}",
        f"2. VolumesGetTest.test_volume_create_get_delete: went green on 1 recheck, failed 1 of 2"
        f" runs (50%) · last failure: {RUNS[3].log_dir}",
    ]
    (nova,) = await chat.run_command("!flaky nova --days 3")
    assert nova.splitlines()[0] == "flakiest tests over 3 d in nova"
    assert len(nova.splitlines()) == 2
    (cinder,) = await chat.run_command("!flaky openstack/cinder")
    assert cinder == "no flaky test in the last 7 d in openstack/cinder"
    assert await chat.run_command("!flaky nova*") == [
        'one project name (nova, openstack/nova), not "nova*"'
    ]


async def test_both_are_bounded_like_query(services: FakeServices) -> None:
    await seed(services)
    recording = services.search = Recording(services.search)
    chat = ChatHarness(services)
    await chat.run_command("!test test_tagged_attachment --days 3")
    await chat.run_command("!flaky")
    assert [body["timeout"] for body in recording.bodies] == ["10000ms", "10000ms"]
    assert len(recording.bodies) == 2  # one request each
    services.search = Recording(recording.inner, timed_out=True)
    (partial,) = await chat.run_command("!flaky")
    assert partial.splitlines()[0] == "flakiest tests over 7 d — partial: the search timed out"
    services.search = Recording(recording.inner, delay=5)
    slow = ChatHarness(services, SETTINGS.model_copy(update={"search_timeout": 0.1}))
    assert await slow.run_command("!test test_tagged_attachment") == [
        "sorry, !test failed: the search server did not answer within 1.1 s"
    ]


async def test_each_costs_two_tokens_and_admins_may_look_further(
    services: FakeServices,
) -> None:
    await seed(services)
    settings = SETTINGS.model_copy(update={"user_rate": RateLimit(burst=4, per_minute=1)})
    chat = ChatHarness(services, settings)
    assert (await chat.run_command("!flaky"))[0].startswith("flakiest tests")  # 2 of 4
    assert (await chat.run_command("!test test_create_server"))[0].startswith(CREATE)  # 4 of 4
    assert (await chat.run_command("!flaky"))[0].startswith("please wait")
    (admin,) = await ChatHarness(services, settings).run_command("!flaky --days 60", user=OPS)
    assert admin.startswith("flakiest tests over 60 d")


def test_short_names_are_class_and_method() -> None:
    assert short_name(f"{CREATE}[id-5de47127,smoke]") == "ServersTestJSON.test_create_server"
    assert short_name("test_plain") == "test_plain"

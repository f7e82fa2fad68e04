"""Realistic test results for the demo's embedded server: one tempest run per job, as
ci-log-processing would index it (:mod:`bot.search.subunit`). Pure and seeded: the same build
and seed give the same documents.

A run has about forty real tempest test ids: most pass, a few are always skipped (features a
devstack job turns off), one is an expected failure, the ``failed`` ids fail (a known bug's
``test_ids``, say), and the :data:`FLAKY` ones fail now and then (``flaky_rate``), so rechecks
of one change show them failing and then passing. Durations vary around a per-test base.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.search.schema import log_dir, shape
from bot.search.subunit import SUBUNIT_FILES

_API = "tempest.api"
TEMPEST_TESTS: tuple[str, ...] = (
    f"{_API}.compute.servers.test_servers.ServersTestJSON.test_create_server",
    f"{_API}.compute.servers.test_servers.ServersTestJSON.test_list_servers",
    f"{_API}.compute.servers.test_server_actions.ServerActionsTestJSON.test_reboot_server_hard",
    f"{_API}.compute.servers.test_server_actions.ServerActionsTestJSON.test_rebuild_server",
    f"{_API}.compute.servers.test_server_actions.ServerActionsTestJSON.test_resize_server_confirm",
    f"{_API}.compute.servers.test_device_tagging.TaggedAttachmentsTest.test_tagged_attachment",
    f"{_API}.compute.servers.test_attach_interfaces.AttachInterfacesTestJSON.test_add_remove_fixed_ip",
    f"{_API}.compute.volumes.test_attach_volume.AttachVolumeTestJSON.test_attach_detach_volume",
    f"{_API}.compute.admin.test_live_migration.LiveMigrationTest.test_live_block_migration",
    f"{_API}.compute.admin.test_migrations.MigrationsAdminTest.test_cold_migration",
    f"{_API}.compute.flavors.test_flavors.FlavorsV2TestJSON.test_list_flavors",
    f"{_API}.compute.keypairs.test_keypairs.KeyPairsV2TestJSON.test_keypair_create_delete",
    f"{_API}.compute.images.test_images.ImagesTestJSON.test_create_image_from_stopped_server",
    f"{_API}.identity.v3.test_tokens.TokensV3Test.test_create_token",
    f"{_API}.identity.admin.v3.test_users.UsersV3TestJSON.test_update_user_password",
    f"{_API}.image.v2.test_images.BasicOperationsImagesTest.test_register_upload_get_image",
    f"{_API}.image.v2.test_images.ListUserImagesTest.test_list_images_param_status",
    f"{_API}.network.test_networks.NetworksTest.test_create_update_delete_network_subnet",
    f"{_API}.network.test_ports.PortsTestJSON.test_create_port_in_allowed_allocation_pools",
    f"{_API}.network.test_routers.RoutersTest.test_add_remove_router_interface_with_subnet_id",
    f"{_API}.network.test_floating_ips.FloatingIPTestJSON.test_create_list_show_update_delete_floating_ip",
    f"{_API}.network.test_security_groups.SecGroupTest.test_create_list_update_show_delete_security_group",
    f"{_API}.object_storage.test_account_services.AccountTest.test_list_containers",
    f"{_API}.object_storage.test_object_services.ObjectTest.test_create_object",
    f"{_API}.volume.test_volumes_get.VolumesGetTest.test_volume_create_get_delete",
    f"{_API}.volume.test_volumes_snapshots.VolumesSnapshotTestJSON.test_snapshot_create_delete",
    f"{_API}.volume.test_volumes_extend.VolumesExtendTest.test_volume_extend",
    f"{_API}.volume.admin.test_multi_backend.VolumeMultiBackendTest.test_backend_name_distinction",
    "tempest.scenario.test_network_basic_ops.TestNetworkBasicOps.test_network_basic_ops",
    "tempest.scenario.test_server_basic_ops.TestServerBasicOps.test_server_basic_ops",
    "tempest.scenario.test_minimum_basic.TestMinimumBasicScenario.test_minimum_basic_scenario",
    "tempest.scenario.test_volume_boot_pattern.TestVolumeBootPattern.test_volume_boot_pattern",
    "tempest.scenario.test_snapshot_pattern.TestSnapshotPattern.test_snapshot_pattern",
    "tempest.scenario.test_stamp_pattern.TestStampPattern.test_stamp_pattern",
    "tempest.scenario.test_shelve_instance.TestShelveInstance.test_shelve_instance",
)
#: Turned off in a devstack job: skipped every run.
SKIPPED = frozenset(
    {
        f"{_API}.compute.admin.test_live_migration.LiveMigrationTest.test_live_block_migration",
        f"{_API}.volume.admin.test_multi_backend.VolumeMultiBackendTest.test_backend_name_distinction",
        "tempest.scenario.test_stamp_pattern.TestStampPattern.test_stamp_pattern",
    }
)
#: Known to fail, marked so: an expected failure every run.
XFAIL = frozenset({f"{_API}.image.v2.test_images.ListUserImagesTest.test_list_images_param_status"})
#: Fail now and then, whatever the change.
FLAKY = (
    f"{_API}.compute.servers.test_attach_interfaces.AttachInterfacesTestJSON.test_add_remove_fixed_ip",
    "tempest.scenario.test_network_basic_ops.TestNetworkBasicOps.test_network_basic_ops",
    f"{_API}.volume.test_volumes_extend.VolumesExtendTest.test_volume_extend",
)


def base_seconds(test: str) -> float:
    """A test's usual run time: 1 to 90 s, scenarios the slowest (stable per test id)."""
    spread = int(hashlib.sha1(test.encode()).hexdigest()[:6], 16) / 0xFFFFFF
    slow = 3.0 if ".scenario." in test else 1.0
    return round(1.0 + spread * 29.0 * slow, 3)


def status_of(test: str, failed: Collection[str], flaky_rate: float, rng: random.Random) -> str:
    """How ``test`` ends in one run."""
    if test in failed:
        return "fail"
    if test in SKIPPED:
        return "skip"
    if test in XFAIL:
        return "xfail"
    if test in FLAKY and rng.random() < flaky_rate:
        return "fail"
    return "success"


def demo_results(
    build: Mapping[str, Any],
    started: datetime,
    *,
    failed: Collection[str] = (),
    seed: str | int = 0,
    flaky_rate: float = 0.25,
    tests: Sequence[str] = TEMPEST_TESTS,
) -> list[dict[str, Any]]:
    """The test-result documents of one run of the job whose log documents carry ``build``'s
    fields (``build_name``, ``build_uuid``, ``log_url``, …: a demo job's console document does),
    its tests starting at ``started`` one after another; ``failed`` tests fail (added when
    they are not among ``tests``)."""
    rng = random.Random(f"{seed}:{build.get('build_uuid')}")
    filename = SUBUNIT_FILES[0]
    root = log_dir(str(build.get("log_url") or ""), str(build.get("filename") or ""))
    kept = {k: v for k, v in build.items() if k not in ("message", "loglevel", "@timestamp")}
    base = shape({**kept, "filename": filename, "tags": [], "log_url": root}, "logsender")
    docs: list[dict[str, Any]] = []
    when = started
    for test in [*tests, *(t for t in failed if t not in tests)]:
        seconds = round(base_seconds(test) * rng.uniform(0.8, 1.3), 3)
        status = status_of(test, failed, flaky_rate, rng)
        if status == "skip":
            seconds = 0.0
        docs.append(
            {
                **base,
                "@timestamp": when.isoformat(),
                "test_name": test,
                "test_status": status,
                "test_duration": seconds,
            }
        )
        when += timedelta(seconds=seconds + 0.5)
    return docs

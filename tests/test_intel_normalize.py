"""Log line normalisation and fingerprints: pure."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.intel.normalize import MASK, fingerprint, normalize


@pytest.mark.parametrize(
    ("line", "template"),
    [
        (
            "2024-01-15 10:22:33.123 12345 ERROR nova.compute.manager [req-3f9a2b1c-1234-4abc-"
            "8def-0123456789ab None None] Instance failed to spawn",
            "<TS> <NUM> ERROR nova.compute.manager [req-<UUID> None None] Instance failed to spawn",
        ),
        (
            '  File "/opt/stack/nova/nova/compute/manager.py", line 2345, in _build',
            'File "<PATH>", line <NUM>, in _build',
        ),
        (
            "Connection refused to 10.0.0.12:5672 on rabbit-3.example.org and fe80::1",
            "Connection refused to <IP> on <HOST> and <IP>",
        ),
        (
            'fatal: [controller-1]: FAILED! => {"rc": 1}',
            'fatal: [<HOST>]: FAILED! => {"rc": <NUM>}',
        ),
        (
            "test_attach[id-ac1ad47f-6c29-4a6b-9d6a-6b6b6b6b6b6b] [12.345s] ... FAILED",
            "test_attach[id-<UUID>] [<DUR>] ... FAILED",
        ),
        (
            "Job timed out after 1h 02m 03s on ubuntu-noble-ovh-bhs1-0035123456",
            "Job timed out after <DUR> on <HOST>",
        ),
        ("commit 3f9a2b1 at 0x7f3a12, not deadbeef", "commit <HEX> at <HEX>, not deadbeef"),
        ("Jan  5 10:22:33 host=np0035123456 kernel: oom", "<TS> host=<HOST> kernel: oom"),
        (
            "see https://opendev.org/x/y#L12 and and/or lib/neutron/foo",
            "see <URL> and and/or <PATH>",
        ),
        ("ids [1, 2, 3] in 4 seconds", "ids [<NUM>] in <DUR>"),
        ("nova.compute.manager keeps module names", "nova.compute.manager keeps module names"),
    ],
)
def test_masks(line: str, template: str) -> None:
    assert normalize(line) == template


def test_same_failure_same_template_whatever_varies() -> None:
    one = "Volume 5e7ad7b1-5206-bfee-b542-172286f45caa on ctl-3.ci.internal (10.1.2.3) after 12.5s"
    two = "Volume 0b6d1b00-e708-f3aa-a25e-79914dcfd1dd on net-77.example.org (192.168.0.9) after 3s"
    assert normalize(one) == normalize(two)
    assert normalize("attach volume 1") != normalize("detach volume 1")


def test_fingerprint_ignores_order_and_duplicates() -> None:
    assert fingerprint(["b", "a", "a"]) == fingerprint(["a", "b"])
    assert fingerprint(["a"]) != fingerprint(["a", "b"])
    assert len(fingerprint([])) == 40


def test_the_mask_pattern_finds_masks_only() -> None:
    assert MASK.search("[req-<UUID>]")
    assert not MASK.search("<class>")


LOGGY = st.lists(
    st.sampled_from(
        [
            *"0123456789abcdefABCDEFxX:./-_~<>[]=,; \t\"'@%+hostnamep",
            "<NUM>",
            "<IP>",
            "host=",
            "://",
            ".com",
            "np",
            "fatal: [",
            " s",
            "ms",
            "2024-01-02",
            "10:11:12",
            "::",
            "\n",
        ]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.one_of(LOGGY, st.text(max_size=200)))
@example("0host=a")
@example("0a://a")
@example("0\t0")
@example("a.com.0")
def test_normalize_is_idempotent_and_never_raises(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip()

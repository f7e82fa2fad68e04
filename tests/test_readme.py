"""The README's examples work: its YAML loads as settings or as a channels file, and what it
says the demo prints and takes is what the demo does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.cli.run import demo_banner
from bot.config import Settings, load_settings
from bot.watch.routing import parse_channels
from tests.support.paths import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
TRY = README.split("## Try it on a real IRC server or Matrix homeserver", 1)[1].split("\n## ")[0]


def yaml_blocks(text: str) -> list[dict[str, Any]]:
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def with_files(data: Any, folder: Path) -> Any:
    """Every ``<name>_file: path`` pointing at a file that exists (written in ``folder``)."""
    if isinstance(data, dict):
        given = {}
        for key, value in data.items():
            if key.endswith("_file"):
                file = folder / f"{len(list(folder.iterdir()))}-{key}"
                file.write_text("secret\n", encoding="utf-8")
                value = str(file)
            given[key] = with_files(value, folder)
        return given
    if isinstance(data, list):
        return [with_files(item, folder) for item in data]
    return data


def settings_of(data: dict[str, Any], folder: Path) -> Settings:
    """``data`` as a settings file loads (``<secret>_file`` read as the bot reads it)."""
    path = folder / "settings.yaml"
    path.write_text(yaml.safe_dump(with_files(data, folder), default_flow_style=False))
    return load_settings(path)


def test_every_yaml_example_loads(tmp_path: Path) -> None:
    kinds = []
    for n, data in enumerate(yaml_blocks(README)):
        if isinstance(data.get("channels"), dict):
            parse_channels(data, "README.md")
            kinds.append("channels")
        else:
            (tmp_path / str(n)).mkdir()
            settings_of(data, tmp_path / str(n))
            kinds.append("settings")
    assert kinds.count("settings") >= 2
    assert "channels" in kinds


def test_the_try_out_settings_reach_a_plain_local_ircd_and_a_local_homeserver(
    tmp_path: Path,
) -> None:
    settings, channels = yaml_blocks(TRY)
    loaded = settings_of(settings, tmp_path)
    assert loaded.irc is not None
    assert (loaded.irc.server, loaded.irc.port, loaded.irc.tls) == ("127.0.0.1", 6667, False)
    assert "Ports = 6667" in TRY  # the ngIRCd config above it listens there
    assert loaded.matrix is not None
    assert loaded.matrix.homeserver == "http://127.0.0.1:8008"
    assert settings["matrix"]["password_file"] == "/tmp/try/bot-password"
    assert "> /tmp/try/bot-password" in TRY
    routing = parse_channels(channels, "README.md")
    rooms = {channel.room.transport: channel.room.id for channel in routing.channels}
    assert rooms["matrix"] == "#recheckbot-demo:localhost"
    assert '"room_alias_name": "recheckbot-demo"' in TRY


def test_the_try_out_channels_are_the_example_plus_a_matrix_room() -> None:
    _, channels = yaml_blocks(TRY)
    example = yaml.safe_load((ROOT / "channels.yaml").read_text(encoding="utf-8"))["channels"]
    tried = dict(channels["channels"])
    assert tried.pop("ci")["transport"] == "matrix"
    assert tried == {name: without_irc(channel) for name, channel in example.items()}


def without_irc(channel: dict[str, Any]) -> dict[str, Any]:
    """The channel without ``transport: irc``, the default."""
    return {k: v for k, v in channel.items() if (k, v) != ("transport", "irc")}


def test_the_quick_start_shows_what_the_demo_prints() -> None:
    shown = README.split("What `make run` shows", 1)[1].split("```")[1]
    banner = demo_banner("http://127.0.0.1:41207", "http://127.0.0.1:40731")
    assert banner in shown
    assert "no prompt" in README
    assert "Ctrl-C" in README
    assert Path(ROOT / "queries" / "1541364.yaml").exists()  # the query the banner suggests


def test_the_quick_start_shows_the_digest_titles_and_bug_pages() -> None:
    shown = README.split("What `make run` shows", 1)[1].split("```")[1]
    head = r"^\[demo\] weekly digest for demo: the 7 days to [\d-]+ [\d:]+ UTC · http://127\.0\.0\.1:41207$"
    assert re.search(head, shown, re.M)
    assert re.search(
        r"^\[demo\] 1\. bug 1541364 \(.+\): \d+ failed builds, .* rechecks, ", shown, re.M
    )
    assert re.search(r"^\[demo\] new uncategorized failures: c-[0-9a-f]{6} \(", shown, re.M)
    assert re.search(r"^\[demo\] stopped hitting \(no hit in 7 d, hits before\): bug ", shown, re.M)
    assert (
        '1541364 "Failed to update apt repos, we\'re dead now"'
        " (bug page: http://127.0.0.1:41207/bug/1541364)"
    ) in shown
    said = " ".join(README.split())
    for named in ("`!top [project]`", "`!why <change>`", "graph --state", "`digest: true`"):
        assert named.replace("`", "") in said.replace("`", ""), named

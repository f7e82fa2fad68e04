"""``!suggest``'s YAML in every rendering: a code block, its indentation kept (on a real osmem
server, clustered by the real code)."""

from __future__ import annotations

from html import escape

from bot.intel import find_clusters
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from commands.suggest import format_suggestion
from tests.support.clusters import KNOWN_QUERY, documents, seed_builds


async def test_suggested_yaml_is_a_code_block(search: OpenSearchBackend) -> None:
    await bulk_index(search.client, documents(seed_builds(5)))
    report = await find_clusters(search, [KNOWN_QUERY], days=7, queue="gate")
    cluster = next(c for c in report.clusters if report.suggestions[c.id].verified)
    yaml = report.suggestions[cluster.id].yaml
    assert "\n  " in yaml  # indented lines: what <br>-joined HTML used to flatten

    text = format_suggestion(report, cluster)

    assert text.html is not None
    head, _, block = text.html.partition("<pre><code>")
    assert head.endswith(f"queries/{cluster.id}.yaml:")
    assert block == escape(yaml.rstrip("\n")) + "</code></pre>"
    plain = text.plain.splitlines()
    assert plain[2] == f"queries/{cluster.id}.yaml:"
    assert [line.removeprefix("  ") for line in plain[3:]] == yaml.splitlines()
    assert text.irc is not None
    assert text.irc.splitlines()[3:] == plain[3:]

"""Links from the dashboard: Kibana / OpenSearch Dashboards searches, and the bugs' own pages."""

from __future__ import annotations

from urllib.parse import quote

from bot.queries.pages import page_path


def rison_string(text: str) -> str:
    """``text`` as a rison string literal (Kibana's URL state format): ``'`` and ``!`` escaped."""
    return "'" + text.replace("!", "!!").replace("'", "!'") + "'"


def kibana_url(base: str | None, lucene: str, days: int) -> str:
    """A Discover search for ``lucene`` over the last ``days`` days; "" without a Kibana base.

    ER linked Kibana 3 (``#/dashboard/file/logstash.json?query=...``); Kibana 7+ and OpenSearch
    Dashboards both take this Discover form, with the app state in rison.
    """
    if not base:
        return ""
    state = f"(query:(language:lucene,query:{rison_string(lucene)}))"
    time = f"(time:(from:now-{days}d,to:now))"
    return f"{base.rstrip('/')}/app/discover#/?_g={quote(time, safe='')}&_a={quote(state, safe='')}"


def bug_page_file(query_id: str) -> str | None:
    """Where the page of query ``query_id`` is written (``bug/<id>.html``); None when the id
    cannot be a file name."""
    return f"{path}.html" if (path := page_path(query_id)) else None


def bug_page_href(query_id: str, root: str = "") -> str:
    """The link to a bug's page (``<root>bug/<id>``: the server serves the page there); "" when
    the query has no page."""
    return f"{root}{path}" if (path := page_path(query_id)) else ""

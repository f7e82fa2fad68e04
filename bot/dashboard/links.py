"""Links from the dashboard to the outside: Kibana / OpenSearch Dashboards searches."""

from __future__ import annotations

from urllib.parse import quote


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

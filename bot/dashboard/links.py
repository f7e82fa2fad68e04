"""Links from the dashboard: Kibana / OpenSearch Dashboards searches, and the bugs' own pages."""

from __future__ import annotations

import re
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


#: Query ids that get a page: the names of query files (``1541364``, ``OSPRH-77``,
#: ``gh-org-repo-12``). Anything else (a space, a slash, a leading dot) is not made a path.
_PAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


def bug_page_file(query_id: str) -> str | None:
    """Where the page of query ``query_id`` is written (``bug/<id>.html``); None when the id
    cannot be a file name."""
    if not _PAGE_ID.fullmatch(query_id) or query_id.endswith(".html"):
        return None
    return f"bug/{query_id}.html"


def bug_page_href(query_id: str, root: str = "") -> str:
    """The link to a bug's page (``<root>bug/<id>``: the server serves the page there); "" when
    the query has no page."""
    return f"{root}bug/{quote(query_id)}" if bug_page_file(query_id) else ""

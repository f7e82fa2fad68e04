"""Where a query's page lives on the dashboard: ``<dashboard>/bug/<query id>``.

One rule for the dashboard that writes the pages and for the messages and replies that link
them, so a link never points at a page that is not written.
"""

from __future__ import annotations

import re
from urllib.parse import quote

#: Query ids that get a page: the names of query files (``1541364``, ``OSPRH-77``,
#: ``gh-org-repo-12``). Anything else (a space, a slash, a leading dot) is not made a path.
_PAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


def page_path(query_id: str) -> str | None:
    """``bug/<id>``, the page's path under the dashboard; None when the id cannot name one."""
    if not _PAGE_ID.fullmatch(query_id) or query_id.endswith(".html"):
        return None
    return f"bug/{quote(query_id, safe='')}"


def page_url(base: str, query_id: str) -> str | None:
    """The page's address under the dashboard at ``base``; None when the query has none."""
    path = page_path(query_id)
    return f"{base.rstrip('/')}/{path}" if path else None

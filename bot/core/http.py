"""HTTP credentials, written once for every client (search, Gerrit, Jira, secret masking)."""

from __future__ import annotations

import base64


def basic_token(user: str, password: str) -> str:
    """The base64 ``user:password`` of HTTP basic auth (what a log line would leak)."""
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def basic_auth(user: str, password: str) -> str:
    """An ``Authorization`` header value. By hand: aiohttp 3.14 deprecates ``BasicAuth``."""
    return f"Basic {basic_token(user, password)}"

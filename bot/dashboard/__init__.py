"""The dashboard: graph JSON (ER's format), the uncategorized failures page, a small web server.

Everything is computed with server-side aggregations (one request per output) and written as
static files, so the pages can be served by the bot or by any web server.
"""

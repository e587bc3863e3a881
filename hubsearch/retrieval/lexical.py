"""The BM25 side: built and saved with `bm25s`, read back and scored with plain numpy.

`bm25s` precomputes every (passage, term) BM25 score into a sparse matrix, so a query's
scores are a sum of a few matrix columns. Reading the saved arrays directly keeps the
query path free of bm25s' own import cost (it pulls in scipy and, where installed, numba).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import HubsearchError
from ..settings import LexicalConfig
from .ranked import Ranked
from .termcounts import TermCounts, count_terms, join, lucene_scores, splitter

__all__ = ["LexicalConfig", "LexicalIndex", "top"]

STOPWORDS_FILE = "stopwords.json"
ANALYZER_FILE = "analyzer.json"
# How text is cut into terms, by analyser version (recorded beside the arrays, so that an
# index keeps being queried the way it was built). Version 1 is bm25s' default pattern:
# words of two or more characters. Version 2 also keeps single letters and digits (`C`,
# `R`, the `4` of `GPT-4`), version strings and decimals whole (`1.0.21`), and emoji.
TOKEN_PATTERNS = {
    1: r"(?u)\b\w\w+\b",
    2: r"(?u)\d+(?:\.\d+)+|\w+|[\U0001F300-\U0001FAFF\u2600-\u27BF]",
}
ANALYZER = 2  # the version new indexes are built with
# Chinese, Japanese and Korean write words without spaces: a run of their characters is cut
# into overlapping pairs, as Lucene's CJKAnalyzer does ("徐汇区" -> "徐汇 汇区").
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")


def cjk_bigrams(text: str) -> str:
    """`text` with each run of CJK characters replaced by its overlapping character pairs
    (a lone character stays as it is); other text is left exactly as it was."""
    if not _CJK_RUN.search(text):
        return text
    return _CJK_RUN.sub(lambda m: " " + " ".join(m.group()[i:i + 2] for i in range(max(1, len(m.group()) - 1)))
                        + " ", text)


class LexicalIndex:
    """BM25 scores for every passage, as a column-compressed (passage x term) matrix."""

    def __init__(
        self,
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
        vocab: dict[str, int],
        stopwords: frozenset[str],
        config: LexicalConfig,
        count: int,
        analyzer: int = ANALYZER,
    ) -> None:
        import Stemmer

        self.data, self.indices, self.indptr = data, indices, indptr
        self.vocab = vocab
        self.stopwords = stopwords
        self.config = config
        self.count = count
        self.analyzer = analyzer
        self.counts: TermCounts | None = None  # each passage's term counts, kept by builds
        self._token = re.compile(TOKEN_PATTERNS[analyzer])
        self._stemmer = Stemmer.Stemmer(config.stemmer)

    @classmethod
    def build(cls, texts: Sequence[str], config: LexicalConfig | None = None, *, previous: Path | None = None,
              rows: Sequence[int | None] = ()) -> "LexicalIndex":
        """Index `texts`; text i gets row i. With `previous` (the lexical folder of the
        live generation) and `rows` (for each text, its row there when the text is the
        same, else None), the kept texts' term counts are read from there, not counted."""
        import Stemmer

        config = config or LexicalConfig()
        if config.stopwords != "en":
            raise HubsearchError(f"stopword list {config.stopwords!r} is not supported; use 'en'")
        if config.method != "lucene":
            return cls._build_with_bm25s(texts, config)
        split, stem = splitter(TOKEN_PATTERNS[ANALYZER], cjk_bigrams), Stemmer.Stemmer(config.stemmer).stemWords
        old = _saved_counts(previous) if previous is not None and any(r is not None for r in rows) else None
        if old is None:  # (an update takes the kept counts' stopwords: bm25s brings scipy, 0.2 s)
            from bm25s.stopwords import STOPWORDS_EN

            stopwords = frozenset(STOPWORDS_EN)
            vocab: dict[str, int] = {}
            counts = count_terms(texts, split, stopwords, stem, vocab)
        else:
            saved, vocab, stopwords = old  # the kept counts were cut with these stopwords
            kept = [i for i, r in enumerate(rows) if r is not None]
            fresh = [i for i, r in enumerate(rows) if r is None]
            joined = join([saved.rows(np.asarray([rows[i] for i in kept], dtype=np.int64)),
                           count_terms([texts[i] for i in fresh], split, stopwords, stem, vocab)])
            order = np.empty(len(texts), dtype=np.int64)
            order[np.asarray(kept + fresh, dtype=np.int64)] = np.arange(len(texts))
            counts = joined.rows(order)
        data, indices, indptr = lucene_scores(counts, len(vocab), config.k1, config.b)
        index = cls(data, indices, indptr, vocab, stopwords, config, len(texts))
        index.counts = counts
        return index

    @classmethod
    def _build_with_bm25s(cls, texts: Sequence[str], config: LexicalConfig) -> "LexicalIndex":
        """bm25s' own build, for its other scoring variants (no kept counts)."""
        import bm25s
        import Stemmer
        from bm25s.stopwords import STOPWORDS_EN

        tokenized = bm25s.tokenize(
            [cjk_bigrams(t) for t in texts], lower=True, token_pattern=TOKEN_PATTERNS[ANALYZER],
            stopwords=config.stopwords, stemmer=Stemmer.Stemmer(config.stemmer), show_progress=False,
        )
        retriever = bm25s.BM25(k1=config.k1, b=config.b, method=config.method)
        retriever.index(tokenized, show_progress=False)
        scores = retriever.scores
        return cls(
            np.asarray(scores["data"]), np.asarray(scores["indices"]), np.asarray(scores["indptr"]),
            dict(retriever.vocab_dict), frozenset(STOPWORDS_EN), config, int(scores["num_docs"]),
        )

    def save(self, folder: Path) -> list[Path]:
        """Write the arrays in bm25s' own layout (loadable by `bm25s.BM25.load`)."""
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "data.csc.index.npy", self.data)
        np.save(folder / "indices.csc.index.npy", self.indices)
        np.save(folder / "indptr.csc.index.npy", self.indptr)
        (folder / "vocab.index.json").write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")
        params = {
            "k1": self.config.k1, "b": self.config.b, "delta": 0.5, "method": self.config.method,
            "idf_method": self.config.method, "dtype": str(self.data.dtype),
            "int_dtype": str(self.indices.dtype), "num_docs": self.count, "version": "0.3",
            "backend": "numpy",
        }
        (folder / "params.index.json").write_text(json.dumps(params), encoding="utf-8")
        (folder / STOPWORDS_FILE).write_text(json.dumps(sorted(self.stopwords)), encoding="utf-8")
        (folder / ANALYZER_FILE).write_text(json.dumps({"version": self.analyzer}), encoding="utf-8")
        if self.counts is not None:
            self.counts.save(folder)
        return sorted(p for p in folder.iterdir())

    @classmethod
    def load(cls, folder: Path, config: LexicalConfig) -> "LexicalIndex":
        params = json.loads((folder / "params.index.json").read_text(encoding="utf-8"))
        analyzer_file = folder / ANALYZER_FILE  # absent: an index built before version 2
        analyzer = json.loads(analyzer_file.read_text(encoding="utf-8"))["version"] if analyzer_file.is_file() else 1
        if analyzer not in TOKEN_PATTERNS:
            raise HubsearchError(
                f"{folder} was built by a newer hubsearch (text analyser {analyzer}); upgrade hubsearch or "
                "run hubsearch index rebuild"
            )
        return cls(  # memory maps: a query reads only its terms' columns
            np.load(folder / "data.csc.index.npy", mmap_mode="r"),
            np.load(folder / "indices.csc.index.npy", mmap_mode="r"),
            np.load(folder / "indptr.csc.index.npy", mmap_mode="r"),
            json.loads((folder / "vocab.index.json").read_text(encoding="utf-8")),
            frozenset(json.loads((folder / STOPWORDS_FILE).read_text(encoding="utf-8"))),
            config,
            int(params["num_docs"]),
            analyzer,
        )

    def analyze(self, text: str) -> list[str]:
        """Lower-case, split, drop stopwords and stem, exactly as bm25s.tokenize does."""
        words = [w for w in self._token.findall(cjk_bigrams(text).lower()) if w not in self.stopwords]
        return self._stemmer.stemWords(words) if words else []

    def term_weights(self, text: str) -> dict[int, float]:
        """Query term ids with their counts; terms absent from the corpus are dropped."""
        counts = Counter(self.vocab[t] for t in self.analyze(text) if t in self.vocab)
        return {tid: float(n) for tid, n in counts.items()}

    def scores(self, weights: dict[int, float]) -> np.ndarray:
        """BM25 score of every passage for a weighted bag of term ids."""
        out = np.zeros(self.count, dtype=np.float32)
        for tid, weight in weights.items():
            lo, hi = self.indptr[tid], self.indptr[tid + 1]
            # A term's column names each passage once, so plain indexing adds exactly as
            # np.add.at would, many times faster.
            out[self.indices[lo:hi]] += np.float32(weight) * self.data[lo:hi]
        return out

    def idf(self, term: int) -> float:
        """Lucene's inverse document frequency of a term id over the passages."""
        df = float(self.indptr[term + 1] - self.indptr[term])
        return float(np.log1p((self.count - df + 0.5) / (df + 0.5)))

    def search(self, weights: dict[int, float], depth: int, allowed: np.ndarray | None = None) -> Ranked:
        """The `depth` best-scoring passages for a weighted bag of term ids, best first;
        passages that match no term are left out, and so, with `allowed` (passage ids),
        are all others."""
        if not weights:
            return Ranked([], [])
        scores = self.scores(weights)
        if allowed is not None:
            keep = np.zeros(len(scores), dtype=bool)
            keep[np.asarray(allowed, dtype=np.int64)] = True
            scores = np.where(keep, scores, 0.0).astype(np.float32)
        order = top(scores, depth)
        order = order[scores[order] > 0]
        return Ranked(order.tolist(), scores[order].tolist())


def _saved_counts(folder: Path) -> tuple[TermCounts, dict[str, int], frozenset[str]] | None:
    """The term counts, vocabulary and stopwords saved in `folder`, if it has counts cut
    the way this version cuts text."""
    try:
        if json.loads((folder / ANALYZER_FILE).read_text(encoding="utf-8"))["version"] != ANALYZER:
            return None
        counts = TermCounts.load(folder)
        vocab = json.loads((folder / "vocab.index.json").read_text(encoding="utf-8"))
        stopwords = frozenset(json.loads((folder / STOPWORDS_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (counts, vocab, stopwords) if counts is not None else None


def top(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the `n` highest scores, best first (ties: lower index first)."""
    n = min(n, len(scores))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, n - 1)[:n]
    return part[np.argsort(-scores[part], kind="stable")]

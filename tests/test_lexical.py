from pathlib import Path

import bm25s
import numpy as np
import pytest
import Stemmer

from hubsearch.query.feedback import rm3
from hubsearch.retrieval.lexical import (
    ANALYZER,
    ANALYZER_FILE,
    TOKEN_PATTERNS,
    LexicalConfig,
    LexicalIndex,
)
from hubsearch.settings import FeedbackConfig

from .conftest import SEEDS

TEXTS = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))] + [
    "Running runners ran the running race.", "", "The and of a",
]


@pytest.mark.parametrize("query", ["Xue Kan", "CFFF consortium", "OpenMMLab", "running races", "the a of", "Xuhui Xuhui"])
def test_scores_equal_bm25s_own_retriever(tmp_path: Path, query: str) -> None:
    ours = LexicalIndex.build(TEXTS)
    ours.save(tmp_path / "lex")
    loaded = LexicalIndex.load(tmp_path / "lex", LexicalConfig())
    reference = bm25s.BM25.load(str(tmp_path / "lex"))
    stemmer = Stemmer.Stemmer("english")
    tokens = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False,
                            token_pattern=TOKEN_PATTERNS[ANALYZER])[0]
    known = [t for t in tokens if t in reference.vocab_dict]
    expected = reference.get_scores(known) if known else np.zeros(len(TEXTS))
    np.testing.assert_allclose(loaded.scores(loaded.term_weights(query)), expected, rtol=1e-5, atol=1e-6)


def test_rm3_adds_terms_from_feedback_and_keeps_the_query() -> None:
    index = LexicalIndex.build(TEXTS)
    weights = index.term_weights("running")
    expanded = rm3(index, weights, [TEXTS[5]], [1.0], FeedbackConfig(rm3_terms=3, rm3_original_weight=0.5))
    assert set(weights) < set(expanded)
    assert sum(expanded.values()) == pytest.approx(1.0)
    assert expanded[next(iter(weights))] >= 0.5


def test_rm3_weighs_each_feedback_passage_by_its_score() -> None:
    index = LexicalIndex.build(TEXTS + ["Apples grow in orchards.", "Rockets burn fuel."])
    weights = index.term_weights("growing")
    feedback = ["Apples grow in orchards.", "Rockets burn fuel."]
    apple, rocket = index.term_weights("apples")[index.vocab["appl"]], index.vocab["rocket"]
    assert apple == 1.0
    even = rm3(index, weights, feedback, [1.0, 1.0], FeedbackConfig(rm3_terms=10))
    assert even[index.vocab["appl"]] == pytest.approx(even[rocket])
    skewed = rm3(index, weights, feedback, [3.0, 1.0], FeedbackConfig(rm3_terms=10))
    assert skewed[index.vocab["appl"]] == pytest.approx(3 * skewed[rocket])


NOTES = ["Notes on the C language and its pointers.", "Plotting with R and ggplot.",
         "Release 1.0.21 fixed the importer; 1.0.2 did not.", "GPT-4 answered in French.",
         "🍅 harvest log for the balcony.", "The 5G mast was switched on."]


@pytest.mark.parametrize(("query", "found"), [
    ("C", 0), ("R", 1), ("1.0.21", 2), ("GPT-4", 3), ("🍅", 4), ("5G", 5),
])
def test_single_letters_versions_and_symbols_are_terms(query: str, found: int) -> None:
    index = LexicalIndex.build(NOTES)
    assert index.search(index.term_weights(query), 3).ids[:1] == [found], index.analyze(query)


def test_an_index_built_before_analyzer_2_is_queried_as_it_was_built(tmp_path: Path) -> None:
    index = LexicalIndex.build(NOTES)
    index.save(tmp_path / "lex")
    assert LexicalIndex.load(tmp_path / "lex", LexicalConfig()).analyze("C and R 1.0.21") == ["c", "r", "1.0.21"]
    (tmp_path / "lex" / ANALYZER_FILE).unlink()  # as an index written by hubsearch 0.2.0 is
    old = LexicalIndex.load(tmp_path / "lex", LexicalConfig())
    assert old.analyzer == 1 and old.analyze("C and R 1.0.21 GPT-4") == ["21", "gpt"]

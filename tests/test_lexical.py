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


def _bm25s_itself(texts: list[str]):
    """bm25s' own tokenizer and index over `texts`, as hubsearch cuts them."""
    from hubsearch.retrieval.lexical import cjk_bigrams

    tokenized = bm25s.tokenize([cjk_bigrams(t) for t in texts], stopwords="en", stemmer=Stemmer.Stemmer("english"),
                               token_pattern=TOKEN_PATTERNS[ANALYZER], show_progress=False)
    retriever = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    retriever.index(tokenized, show_progress=False)
    return retriever


CORPUS = TEXTS + NOTES + ["徐汇区是上海的中心城区之一。", "Wing flutter at Mach 2. Flutter, flutter!"]


def test_scores_equal_a_build_by_bm25s_itself_bit_for_bit() -> None:
    ours = LexicalIndex.build(CORPUS)
    reference = _bm25s_itself(CORPUS)
    for term, column in ours.vocab.items():
        expected = reference.get_scores([term])
        got = ours.scores({column: 1.0})
        assert np.array_equal(got, expected.astype(np.float32)), term


def test_an_update_counts_only_new_texts_and_scores_as_a_fresh_build(tmp_path: Path, monkeypatch) -> None:
    from hubsearch.retrieval import termcounts

    ours = LexicalIndex.build(CORPUS)
    ours.save(tmp_path / "lex")
    changed = CORPUS[:3] + ["A brand new passage on flutter and 1.0.21."] + CORPUS[4:-1]  # one edited, last removed
    rows = [i if i != 3 else None for i in range(len(changed))]
    counted: list[str] = []
    original = termcounts.count_terms
    monkeypatch.setattr("hubsearch.retrieval.lexical.count_terms",
                        lambda texts, *a: counted.extend(texts) or original(texts, *a))
    updated = LexicalIndex.build(changed, previous=tmp_path / "lex", rows=rows)
    assert counted == [changed[3]]
    fresh = LexicalIndex.build(changed)
    for term in set(updated.vocab) | set(fresh.vocab):
        got = updated.scores({updated.vocab[term]: 1.0}) if term in updated.vocab else np.zeros(len(changed))
        want = fresh.scores({fresh.vocab[term]: 1.0}) if term in fresh.vocab else np.zeros(len(changed))
        assert np.array_equal(got, want), term


def test_an_update_cuts_new_texts_with_the_stopwords_of_the_kept_counts(tmp_path: Path) -> None:
    import json

    from hubsearch.retrieval.lexical import STOPWORDS_FILE

    LexicalIndex.build(CORPUS).save(tmp_path / "lex")
    saved = tmp_path / "lex" / STOPWORDS_FILE
    # As if an older bm25s had listed "flutter": kept counts and new ones must agree.
    saved.write_text(json.dumps(sorted(json.loads(saved.read_text()) + ["flutter"])), encoding="utf-8")
    texts = CORPUS[:-1] + ["A new passage on flutter."]
    updated = LexicalIndex.build(texts, previous=tmp_path / "lex", rows=[*range(len(CORPUS) - 1), None])
    assert "flutter" in updated.stopwords and not updated.term_weights("flutter")


@pytest.mark.parametrize(("query", "found"), [
    ("徐汇区", 0), ("東京タワー", 1), ("서울의 지하철", 2), ("とうきょう", 1),
])
def test_chinese_japanese_and_korean_words_are_found_by_character_pairs(query: str, found: int) -> None:
    texts = ["徐汇区是上海的中心城区之一。", "東京タワーは高い。とうきょうの夜景。", "서울의 지하철은 편리합니다.",
             "An English note about trains."]
    index = LexicalIndex.build(texts)
    assert index.search(index.term_weights(query), 2).ids[:1] == [found], index.analyze(query)

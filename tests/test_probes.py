"""The probe harness of scripts/probe_quality.py: its default reproduces `hubsearch eval`,
every probe puts back what it swapped, and its scorers and re-rankers do what they say."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace
from pathlib import Path

import numpy as np
import pytest

from hubsearch import evaluation, fusion, questions
from hubsearch.index import Index
from hubsearch.lexical import LexicalIndex
from hubsearch.ranking import Fused, SideScore

from .conftest import ROOT, FakeEmbedder

sys.path.insert(0, str(ROOT / "scripts"))

import probe_quality  # noqa: E402
import probe_ranking  # noqa: E402
import probe_sides  # noqa: E402
import probes  # noqa: E402

TOPICS = {
    "gliders": "Gliders soar on rising air and thermals lift their wings.",
    "rockets": "Rocket engines burn fuel and oxidiser to make thrust.",
    "tea": "Green tea is steamed while black tea is oxidised.",
    "bridges": "Suspension bridges hang their deck from steel cables.",
}


def _collection(folder: Path) -> Path:
    """Twelve documents, three on each of four topics, and one judged query a topic."""
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w") as f:
        for topic, text in TOPICS.items():
            for i in range(3):
                f.write(json.dumps({"_id": f"{topic}{i}", "title": topic.title(), "text": f"{text} Note {i}."}) + "\n")
    queries = {"1": "rising air wings", "2": "rocket fuel thrust", "3": "steamed green tea", "4": "steel cables"}
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    rows = [f"{q}\t{topic}{i}\t{1 + (i == 0)}" for q, topic in zip(queries, TOPICS) for i in range(2)]
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(rows) + "\n")
    return folder


@pytest.fixture
def setup(tmp_path: Path) -> tuple[probes.Setup, dict[str, float]]:
    folder = _collection(tmp_path / "beir")
    fake = FakeEmbedder()
    report = evaluation.evaluate(folder, modes=("hybrid",), path=tmp_path / "idx", embedder=fake)
    collection = evaluation.load_beir(folder)
    qids = sorted(collection.qrels)
    texts = [collection.queries[q] for q in qids]
    index = Index.open(tmp_path / "idx", embedder=fake)
    made = probes.Setup("toy", index, qids, texts, collection.qrels, index.pipeline.encode(texts),
                        index.passage_documents())
    yield made, report["results"]["hybrid"]
    index.close()


def test_the_default_probe_gives_the_figures_of_hubsearch_eval(setup) -> None:
    made, product = setup
    mine = evaluation.means(probe_quality.score(made, probes.Probe("default")))
    assert mine == pytest.approx({k: product[k] for k in ("ndcg@10", "recall@100", "mrr")}, abs=1e-12)


def test_every_probe_runs_and_puts_back_what_it_swapped(setup) -> None:
    made, _ = setup
    generation = made.pipeline.generation
    before = (generation.lexical, generation.vectors, generation.sentences)
    default = probe_quality.score(made, probes.Probe("default"))
    changed = 0
    for probe in probe_quality.PROBES:
        values = probe_quality.score(made, probe)
        assert set(values["ndcg@10"]) == set(made.qids), probe.label
        changed += values != default
        assert (generation.lexical, generation.vectors, generation.sentences) == before, probe.label
        assert not {"fuse", "smooth", "encode"} & set(vars(made.pipeline)), probe.label
        assert probe_ranking.pipeline_module.mix is fusion.mix, probe.label
    assert probe_quality.score(made, probes.Probe("default")) == default
    assert changed > 0  # the swaps reach the ranking


def test_question_sets_are_probed_through_the_search_that_highlights(tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for topic, text in TOPICS.items():
        (corpus / f"{topic}.txt").write_text(f"{topic.title()}\n\n{text} It was measured twice. Many admire it.\n")
    asked = [("What lifts glider wings?", "thermals"), ("What do rockets burn?", "oxidiser"),
             ("How is green tea made?", "steamed"), ("What holds a bridge deck?", "steel cables")]
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [{"corpus": str(corpus)}]
                            + [{"q": q, "answers": [a]} for q, a in asked]))
    fake = FakeEmbedder()
    report = questions.evaluate_questions(path, modes=("hybrid",), index_path=tmp_path / "idx", embedder=fake)
    loaded = questions.load_questions(path).questions
    index = Index.open(tmp_path / "idx", embedder=fake)
    made = probes.Setup("q", index, [str(n) for n in range(len(loaded))], [q.q for q in loaded],
                        doc_of=index.passage_documents(), questions=loaded)
    default = probe_quality.score(made, probes.Probe("default"))
    assert evaluation.means(default) == pytest.approx(report["results"]["hybrid"], abs=1e-12)
    assert default["highlight"]  # the highlight ran
    for probe in probe_quality.PROBES:
        values = probe_quality.score(made, probe)
        assert set(values["top1"]) == set(made.qids), probe.label
        assert "encode" not in vars(made.pipeline), probe.label  # the search encodes as before
    index.close()


def test_count_models_score_only_matching_passages_and_reward_repeats() -> None:
    texts = ["apple apple banana date", "apple cherry banana date", "cherry cherry banana date"]
    base = LexicalIndex.build(texts)
    query = base.term_weights("apple")
    for model, parameter in (("dph", 0.0), ("dlh13", 0.0), ("pl2", 1.0), ("ql", 1000.0)):
        scores = probe_sides.CountScores(base, texts, model, parameter).scores(query)
        assert scores[0] > 0 and scores[1] > 0 and scores[2] == 0, model
    for model, parameter in (("pl2", 1.0), ("ql", 1000.0)):
        scores = probe_sides.CountScores(base, texts, model, parameter).scores(query)
        assert scores[0] > scores[1], model  # two occurrences beat one at the same length


def _fused(ids_scores: list[tuple[int, float]], ranks: dict[int, tuple[int | None, int | None]] | None = None):
    ranks = ranks or {}
    return [
        Fused(i, s, {name: SideScore(r, None, s / 2) for name, r in zip(("dense", "lexical"), ranks.get(i, (1, 1)))})
        for i, s in ids_scores
    ]


TOY = SimpleNamespace(name="toy")  # the one thing the feedback swaps read of a collection


def test_first_kept_puts_the_first_pass_top_back_on_top() -> None:
    first = _fused([(7, 3.0), (8, 2.0), (9, 1.0)], {7: (1, 1), 8: (2, 2), 9: (3, 3)})
    second = _fused([(9, 5.0), (8, 4.0), (7, 0.0)], {9: (1, 1), 8: (2, 2), 7: (3, 3)})
    with probe_ranking.first_kept(2)(TOY):
        mixed = probe_ranking.pipeline_module.mix(first, second, 0.5)
    assert [f.id for f in mixed[:2]] == [7, 8]
    assert [f.id for f in fusion.mix(first, second, 0.5)][0] == 9  # what plain mixing would do


def test_best_plus_second_counts_a_document_second_passage() -> None:
    ranking = _fused([(0, 1.0), (1, 0.9), (2, 0.8)])
    doc_of = ["a", "b", "b"]
    assert probes.best_passage(ranking, doc_of) == ["a", "b"]
    assert probe_ranking.best_plus_second(0.5)(ranking, doc_of) == ["b", "a"]


def test_agreement_bonus_lifts_what_both_sides_rank_high() -> None:
    ranking = _fused([(0, 1.0), (1, 0.9)], {0: (1, None), 1: (2, 3)})
    assert [f.id for f in probe_ranking.agreement_bonus(0.25, 10)(ranking)] == [1, 0]
    assert [f.id for f in probe_ranking.agreement_bonus(0.25, 2)(ranking)] == [0, 1]


def test_penalised_search_ranks_by_cosine_less_the_penalty() -> None:
    vectors = np.array([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    store = type("Store", (), {"count": 4, "dimension": 2, "vectors": lambda self, ids: vectors[list(ids)]})()
    penalty = np.array([0.0, 0.5, 0.5, 0.0])
    ranked = probe_sides.Penalised(store, vectors, penalty).search(np.array([0.8, 0.6], dtype=np.float32), 4)
    assert ranked.ids[0] == 0 and ranked.scores[0] == pytest.approx(0.8)


def test_spread_lifts_a_passage_whose_neighbours_score() -> None:
    vectors = np.array([[1.0, 0.0], [0.9, 0.436], [-1.0, 0.0]], dtype=np.float32)
    graph = probe_sides.neighbour_graph(vectors, 1)
    assert np.asarray(graph.sum(axis=1)).ravel()[:2] == pytest.approx([1.0, 1.0])
    own = np.array([0.0, 1.0, 0.0])
    ranked = probe_sides.Spread(None, lambda q: own, graph, 0.2).search(None, 3)
    assert ranked.ids == [1, 0]  # passage 0 matches nothing, but its nearest neighbour does
    assert ranked.scores == pytest.approx([0.8, 0.2])


def test_with_document_mixes_in_the_whole_document_score() -> None:
    texts = ["apple pie recipe", "banana bread recipe", "banana split"]
    doc_row = np.array([0, 0, 1])
    base = LexicalIndex.build(texts)
    documents = LexicalIndex.build([texts[0] + "\n" + texts[1], texts[2]])
    query = base.term_weights("banana")
    alone = base.search(query, 3)
    assert probe_sides.WithDocument(base, documents, doc_row, 0.0).search(query, 3).ids == alone.ids
    whole = probe_sides.WithDocument(base, documents, doc_row, 1.0).search(query, 3)
    assert 0 not in whole.ids  # a passage matching no term stays out
    doc_scores = documents.scores(documents.term_weights("banana"))
    assert dict(zip(whole.ids, whole.scores)) == pytest.approx({1: doc_scores[0], 2: doc_scores[1]})


def test_gated_feedback_mixes_only_where_the_gate_trusts_the_first_pass() -> None:
    first = _fused([(7, 3.0), (8, 2.0), (9, 1.0)], {7: (1, 1), 8: (2, 2), 9: (3, 3)})
    second = _fused([(9, 5.0), (8, 4.0), (7, 0.0)], {9: (1, 1), 8: (2, 2), 7: (3, 3)})
    with probe_ranking.gated_feedback(lambda ranking: False)(TOY):
        assert probe_ranking.pipeline_module.mix(first, second, 0.5) is first
    with probe_ranking.gated_feedback(lambda ranking: True)(TOY):
        assert probe_ranking.pipeline_module.mix(first, second, 0.5) == fusion.mix(first, second, 0.5)
    gated = probe_ranking.gated_feedback(lambda ranking: ranking[0].id == 7)
    with gated(TOY):
        probe_ranking.pipeline_module.mix(first, second, 0.5)
        probe_ranking.pipeline_module.mix(second, first, 0.5)
    assert gated.passed == {"toy": [True, False]}


def test_the_gates_read_side_agreement_and_the_score_gap() -> None:
    agreeing = _fused([(i, 10.0 - i) for i in range(10)], {i: (i + 1, i + 1) for i in range(10)})
    apart = _fused([(i, 10.0 - i) for i in range(10)],
                   {i: ((i + 1, None) if i < 5 else (None, i - 4)) for i in range(10)})
    assert probe_ranking.sides_agree(0.5, depth=5)(agreeing)
    assert not probe_ranking.sides_agree(0.2, depth=5)(apart)
    assert probe_ranking.stands_out(9.0)(agreeing)  # 10 - 1 = 9 between the first and the 10th
    assert not probe_ranking.stands_out(9.5)(agreeing)
    assert not probe_ranking.stands_out(0.0, depth=11)(agreeing)  # fewer than 11 candidates


def test_weighed_terms_scale_each_query_term_by_the_meaning_it_carries() -> None:
    texts = ["glider wings lift", "glider cockpit", "wings of birds"]
    base = LexicalIndex.build(texts)
    glider, wings = base.vocab["glider"], base.vocab["wing"]

    def embed(batch: list[str]) -> np.ndarray:  # "glider" carries the meaning, "wings" little
        rows = [np.array([1.0, 0.1]) if "glider" in t and "wings" in t else
                np.array([1.0, 0.0]) if "glider" in t else np.array([0.0, 1.0]) for t in batch]
        return np.array([r / np.linalg.norm(r) for r in rows])

    left_out = probe_sides.WeighedTerms(base, embed, "left out", 1.0).term_weights("glider wings")
    assert left_out[glider] > left_out[wings] > 0
    assert sum(left_out.values()) == pytest.approx(2.0)  # over the mean: the total stays
    alone = probe_sides.WeighedTerms(base, embed, "alone", 1.0).term_weights("glider wings")
    assert alone[glider] > alone[wings] > 0
    assert probe_sides.WeighedTerms(base, embed, "alone", 1.0).term_weights("glider") == base.term_weights("glider")


def test_the_grid_covers_every_combination_and_the_default_among_them(setup) -> None:
    made, _ = setup
    grid = probe_quality.grid()
    assert len(grid) == np.prod([len(v) for v in probe_quality.GRID.values()])
    assert len({p.config for p in grid}) == len(grid)
    default = probe_quality.score(made, probes.Probe("default"))
    at_default = [p for p in grid if p.config.fusion.alpha == 0.5 and p.config.sentences == 0.5
                  and p.config.smoothing == 0.2 and p.config.smoothing_neighbours == 5]
    assert len(at_default) == 1 and probe_quality.score(made, at_default[0]) == default


def test_saturated_counts_bend_a_repeated_query_term() -> None:
    base = LexicalIndex.build(["apple banana", "cherry date", "apple apple"])
    apple, banana = base.vocab["appl"], base.vocab["banana"]
    query = "apple apple apple banana"
    assert base.term_weights(query) == {apple: 3.0, banana: 1.0}
    assert probe_sides.SaturatedCounts(base, 0.0).term_weights(query) == {apple: 1.0, banana: 1.0}
    bent = probe_sides.SaturatedCounts(base, 8.0).term_weights(query)
    assert bent[banana] == pytest.approx(1.0) and 1.0 < bent[apple] < 3.0


def test_query_sentences_average_the_vectors_of_a_long_query(setup) -> None:
    made, _ = setup
    made.texts[0] = "Rising warm air lifts gliders. Wings."
    plain = made.pipeline.encode([made.texts[0]])[0]
    parts = made.pipeline.encode(["Rising warm air lifts gliders.", "Wings."]).mean(axis=0)
    before = made.vectors
    with probe_sides.query_sentences(2)(made):
        assert made.vectors[0] == pytest.approx(parts / np.linalg.norm(parts), abs=1e-5)
        assert made.vectors[1] == pytest.approx(before[1])  # one sentence: as it was
    assert made.vectors is before
    with probe_sides.query_sentences(3)(made):  # two sentences: the whole text's vector
        assert made.vectors[0] == pytest.approx(plain, abs=1e-5)
    assert not np.allclose(plain, parts / np.linalg.norm(parts))  # the two differ

import json
import random
from pathlib import Path

import pytest

from hubsearch import ChunkingConfig, evaluate
from hubsearch.errors import SourceError
from hubsearch.evaluate.beir import evaluate_run, load_beir

from .conftest import FakeEmbedder


def _random_case(seed: int):
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(60)]
    qrels, run = {}, {}
    for q in range(25):
        judged = {d: rng.choice([0, 1, 2, 3, 4]) for d in rng.sample(docs, rng.randint(1, 12))}
        if not any(judged.values()):
            judged[rng.choice(docs)] = 2
        qrels[f"q{q}"] = judged
        ranking = rng.sample(docs, rng.randint(0, 60))
        run[f"q{q}"] = ranking
    return qrels, run


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_pytrec_eval(seed: int) -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")
    qrels, run = _random_case(seed)
    ours = evaluate_run(run, qrels)
    # Distinct, decreasing scores so trec_eval's tie-breaking cannot reorder.
    scored = {q: {d: float(len(r) - i) for i, d in enumerate(r)} for q, r in run.items()}
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100", "recip_rank"})
    per_query = evaluator.evaluate(scored)
    n = len(qrels)
    ref = {
        "ndcg@10": sum(per_query.get(q, {}).get("ndcg_cut_10", 0.0) for q in qrels) / n,
        "recall@100": sum(per_query.get(q, {}).get("recall_100", 0.0) for q in qrels) / n,
        "mrr": sum(per_query.get(q, {}).get("recip_rank", 0.0) for q in qrels) / n,
    }
    for key in ref:
        assert ours[key] == pytest.approx(ref[key], abs=1e-9), key


def _beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    docs = {
        "a": ("Apples", "Apples grow on trees in orchards."),
        "b": ("Rockets", "Rocket engines burn fuel and make thrust."),
        "c": ("Tea", "Green tea is steamed and black tea is oxidised."),
    }
    with (folder / "corpus.jsonl").open("w") as f:
        for i, (t, x) in docs.items():
            f.write(json.dumps({"_id": i, "title": t, "text": x}) + "\n")
    with (folder / "queries.jsonl").open("w") as f:
        f.write(json.dumps({"_id": "1", "text": "orchards apples"}) + "\n")
        f.write(json.dumps({"_id": "2", "text": "rocket thrust"}) + "\n")
        f.write(json.dumps({"_id": "3", "text": "unjudged"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\ta\t2\n2\tb\t1\n2\tc\t0\n")
    return folder


def test_load_beir_reads_all_three_files(tmp_path: Path) -> None:
    c = load_beir(_beir(tmp_path / "beir"))
    assert c.corpus["b"][0] == "Rockets"
    assert set(c.qrels) == {"1", "2"}
    assert c.qrels["2"] == {"b": 1, "c": 0}


def test_load_beir_names_missing_files(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="missing corpus.jsonl, queries.jsonl, qrels/test.tsv"):
        load_beir(tmp_path)


def test_load_beir_reads_the_split_asked_for_and_names_the_ones_there(tmp_path: Path) -> None:
    folder = _beir(tmp_path / "beir")
    (folder / "qrels" / "test.tsv").rename(folder / "qrels" / "dev.tsv")
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n3\tc\t1\n")
    assert load_beir(folder, "dev").qrels == {"1": {"a": 2}, "2": {"b": 1, "c": 0}}
    assert load_beir(folder, "train").qrels == {"3": {"c": 1}}
    with pytest.raises(SourceError, match=r"no qrels/test.tsv but judges queries in dev, train; choose one "
                                          r"with --split dev$"):
        load_beir(folder)


def test_evaluate_scores_every_mode_and_reuses_a_named_index(tmp_path: Path) -> None:
    folder = _beir(tmp_path / "beir")
    fake = FakeEmbedder()
    report = evaluate(folder, path=tmp_path / "idx", embedder=fake)
    assert set(report.results) == {"hybrid", "dense", "lexical"}
    assert report.queries == 2
    for result in report.results.values():
        metrics = result.metrics
        assert metrics["mrr"] == pytest.approx(1.0)
        assert metrics["recall@100"] == pytest.approx(1.0)
        # One passage per document here, so the passage ranking scores the same.
        assert result.passages == pytest.approx(metrics)
    embedded = fake.embedded
    evaluate(folder, path=tmp_path / "idx", embedder=fake, modes=("dense",))
    assert fake.embedded - embedded == 2  # only the two judged queries; the corpus is reused


def test_passage_judgements_take_their_documents_grade() -> None:
    from hubsearch.evaluate.beir import passage_qrels as _passage_qrels

    doc_of = ["a", "b", "a", "c", "a"]
    qrels = {"1": {"a": 2, "c": 0}, "2": {"b": 1, "gone": 3}}
    assert _passage_qrels(qrels, doc_of) == {"1": {"0": 2, "2": 2, "4": 2, "3": 0}, "2": {"1": 1}}


def _long_beir(folder: Path) -> Path:
    """One long document about gliders (several passages) and a short one about tea."""
    (folder / "qrels").mkdir(parents=True)
    long = " ".join(f"Gliders soar on rising air, note {i}." for i in range(60))
    with (folder / "corpus.jsonl").open("w") as f:
        f.write(json.dumps({"_id": "a", "title": "Gliders", "text": long}) + "\n")
        f.write(json.dumps({"_id": "b", "title": "Tea", "text": "Green tea is steamed."}) + "\n")
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "1", "text": "gliders rising air"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\ta\t1\n")
    return folder


def test_evaluate_scores_passages_of_long_documents(tmp_path: Path) -> None:
    folder = _long_beir(tmp_path / "beir")
    report = evaluate(folder, embedder=FakeEmbedder(), modes=("lexical",))
    assert report.passages > 3
    metrics = report.results["lexical"].metrics
    passages = report.results["lexical"].passages
    assert metrics["ndcg@10"] == pytest.approx(1.0)
    # Every passage of "a" is relevant and all of them outrank the tea passage.
    assert passages["recall@100"] == pytest.approx(1.0)
    assert passages["ndcg@10"] == pytest.approx(1.0)


def test_evaluate_cuts_passages_as_asked_and_rebuilds_a_kept_index_when_that_changes(tmp_path: Path) -> None:
    folder = _long_beir(tmp_path / "beir")
    fake = FakeEmbedder()
    default = evaluate(folder, path=tmp_path / "idx", embedder=fake, modes=("lexical",))
    assert default.chunking == ChunkingConfig()
    short = ChunkingConfig(max_tokens=24, overlap_tokens=0)
    shorter = evaluate(folder, path=tmp_path / "idx", embedder=fake, modes=("lexical",), chunking=short)
    assert shorter.chunking == short
    assert shorter.passages > default.passages  # the kept index was rebuilt, not reused
    embedded = fake.embedded
    again = evaluate(folder, path=tmp_path / "idx", embedder=fake, modes=("lexical",), chunking=short)
    assert again.passages == shorter.passages
    assert fake.embedded - embedded == 1  # reused: only the judged query was embedded


def test_a_kept_index_of_an_older_format_is_built_again(tmp_path: Path, monkeypatch) -> None:
    from hubsearch.store import manifest as manifest_io

    folder = _beir(tmp_path / "beir")
    fake = FakeEmbedder()
    evaluate(folder, path=tmp_path / "idx", embedder=fake, modes=("lexical",))
    first = (tmp_path / "idx" / "CURRENT").read_text()
    evaluate(folder, path=tmp_path / "idx", embedder=fake, modes=("lexical",))
    assert (tmp_path / "idx" / "CURRENT").read_text() == first  # kept
    monkeypatch.setattr(manifest_io, "FORMAT_VERSION", manifest_io.FORMAT_VERSION + 1)  # as after an upgrade
    evaluate(folder, path=tmp_path / "idx", embedder=fake, modes=("lexical",))
    assert (tmp_path / "idx" / "CURRENT").read_text() != first  # indexed again

"""Question sets and the multi-collection eval."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hubsearch import (
    ChunkingConfig,
    EvalReport,
    InvalidInputError,
    SearchConfig,
    SourceError,
    evaluate_many,
    evaluate_questions,
)
from hubsearch.cli import cli
from hubsearch.evaluate.questions import holds, load_questions
from hubsearch.query.highlight import highlight, term_match
from hubsearch.records import Hit
from hubsearch.store.sentences import SentenceVectors

from .conftest import FakeEmbedder
from .test_evaluation import _beir

QUESTIONS = [
    {"q": "what do farmers pick in autumn", "answers": ["Farmers pick apples"], "kind": "paraphrase"},
    {"q": "rocket nozzles exhaust", "answers": ["Nozzles shape the exhaust"]},
    {"q": "green tea steamed", "answers": ["green TEA is\nsteamed", "never there"]},
    {"q": "submarines", "answers": ["not in any document"]},
]


def _question_file(tmp_path: Path, corpus: Path, questions=QUESTIONS) -> Path:
    path = tmp_path / "questions.jsonl"
    lines = [json.dumps({"corpus": str(corpus)})] + [json.dumps(q) for q in questions]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_holds_ignores_case_and_whitespace_runs() -> None:
    assert holds("Green  tea\nis steamed.", ["green tea is steamed"])
    assert not holds("Green tea is oxidised.", ["green tea is steamed"])


def test_load_questions_reads_the_corpus_line_relative_to_the_file(tmp_path: Path, corpus: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "q.jsonl"
    path.write_text('{"corpus": "../corpus"}\n{"q": "x", "answers": ["y"], "doc_id": "apples"}\n')
    qset = load_questions(path)
    assert qset.corpus == corpus.resolve()
    assert qset.questions[0].answers == ("y",) and qset.questions[0].doc_id == "apples"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"q": "x", "answers": ["y"]}\n', "names no documents; add a first line"),
        ('{"corpus": "."}\n{"q": "x"}\n', ':2 is not a question; write {"q"'),
        ('{"corpus": "."}\n{"q": "x", "answers": []}\n', ":2 is not a question"),
        ('{"corpus": "."}\nnot json\n', ":2 is not valid JSON"),
        ('{"corpus": "."}\n', "holds no questions"),
        ('{"corpus": "nowhere"}\n{"q": "x", "answers": ["y"]}\n', "does not exist"),
    ],
)
def test_malformed_question_files_are_refused_with_the_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(text)
    with pytest.raises(SourceError, match=message.replace("{", r"\{").replace("(", r"\(")):
        load_questions(path)


def test_evaluate_questions_counts_answers_in_the_top_passages(tmp_path: Path, corpus: Path) -> None:
    report = evaluate_questions(_question_file(tmp_path, corpus), embedder=FakeEmbedder(), modes=("lexical",))
    assert report.kind == "questions" and report.queries == 4
    per = report.results["lexical"].per_query
    # The two exact-word questions are answered first; the one with no answer anywhere never is.
    assert per["top1"]["1"] == per["top1"]["2"] == 1.0
    assert per["top1"]["3"] == per["top3"]["3"] == per["mrr@10"]["3"] == 0.0
    m = report.results["lexical"].metrics
    assert m["top1"] == pytest.approx(np.mean(list(per["top1"].values())))
    assert m["top3"] >= m["top1"]
    assert set(per["highlight"]) <= {q for q, v in per["top1"].items() if v == 1.0}
    assert 0.0 <= m["highlight"] <= 1.0


def test_evaluate_many_reports_each_collection_and_their_mean(tmp_path: Path, corpus: Path) -> None:
    questions = _question_file(tmp_path, corpus)
    beir = _beir(tmp_path / "beir")
    report = evaluate_many([beir, questions], modes=("lexical",), embedder=FakeEmbedder(), index_root=tmp_path / "i")
    kinds = [r.kind for r in report.collections]
    assert kinds == ["beir", "questions"]
    assert (tmp_path / "i" / "beir").is_dir() and (tmp_path / "i" / "questions").is_dir()
    mean = report.mean["lexical"]
    assert mean["ndcg@10"] == report.collections[0].results["lexical"].metrics["ndcg@10"]
    assert mean["top1"] == report.collections[1].results["lexical"].metrics["top1"]


def test_eval_command_takes_several_collections(fake, tmp_path: Path, corpus: Path) -> None:
    questions = _question_file(tmp_path, corpus)
    beir = _beir(tmp_path / "beir")
    runner = CliRunner()
    table = runner.invoke(cli, ["eval", str(beir), str(questions), "--mode", "lexical"], catch_exceptions=False)
    assert table.exit_code == 0, table.stderr
    assert "top1" in table.stdout and "nDCG@10" in table.stdout and "mean over the collections" in table.stdout
    out = runner.invoke(cli, ["eval", str(beir), str(questions), "--mode", "lexical", "--json", "--per-query"])
    report = json.loads(out.stdout)
    assert [r["kind"] for r in report["collections"]] == ["beir", "questions"]
    assert set(report["collections"][1]["per_query"]["lexical"]["top1"]) == {"0", "1", "2", "3"}
    bad = runner.invoke(cli, ["eval", str(tmp_path / "nothing.jsonl")])
    assert bad.exit_code == 2 and "does not exist" in bad.stderr


def test_highlight_weighs_the_querys_exact_words_with_its_meaning() -> None:
    text = "Alpha beta gamma. Xue Kan leads here. Delta epsilon."
    spans = [(0, 17), (18, 37), (38, 52)]
    vectors = np.array([[0.9, 0.436], [0.85, 0.527], [0.1, 0.995]], dtype=np.float16)
    sentences = SentenceVectors(np.array([[0, s, e] for s, e in spans], dtype=np.int32), vectors)
    hit = Hit(chunk_id=0, doc_id="d", source="d.txt", start=100, end=100 + len(text), text=text, title=None,
              date=None, rank=1, score=1.0)
    query = np.array([1.0, 0.0], dtype=np.float32)
    dense_only = highlight([hit], query, sentences, embed=None)[0]  # type: ignore[arg-type]
    assert dense_only.highlight == (100, 117)  # the closest in meaning
    name = {"xue", "kan"}

    def terms(sentence: str) -> set:
        return name.intersection(sentence.lower().replace(".", "").split())

    both = highlight([hit], query, sentences, embed=None, terms=terms)[0]  # type: ignore[arg-type]
    assert both.highlight == (118, 137)  # close in meaning and holds the name


def test_term_match_weighs_a_term_by_how_few_of_the_sentences_hold_it() -> None:
    # "What did Ding Kuiling warn about?": the name is in two of three sentences, "warn" in one.
    found = [{"ding", "kuiling"}, {"warn"}, {"ding", "kuiling"}]
    match = term_match(found)
    assert match[1] > match[0] == match[2] > 0
    np.testing.assert_allclose(match, [2 * np.log(4 / 2.5), np.log(4 / 1.5), 2 * np.log(4 / 2.5)])
    assert term_match([set(), {"warn"}]).tolist() == [0.0, np.log(3 / 1.5)]


def test_highlight_prefers_the_sentence_with_the_particular_term_to_the_one_naming_the_subject() -> None:
    text = "Ding Kuiling spoke. He warned of risks. Ding Kuiling left."
    spans = [(0, 19), (20, 39), (40, 58)]
    vectors = np.tile(np.array([[0.6, 0.8]], dtype=np.float16), (3, 1))  # meaning ties them
    sentences = SentenceVectors(np.array([[0, s, e] for s, e in spans], dtype=np.int32), vectors)
    hit = Hit(chunk_id=0, doc_id="d", source="d.txt", start=0, end=len(text), text=text, title=None,
              date=None, rank=1, score=1.0)
    wanted = {"ding", "kuiling", "warn"}

    def terms(sentence: str) -> set:
        return wanted.intersection(w.rstrip(".").removesuffix("ed") for w in sentence.lower().split())

    query = np.array([0.6, 0.8], dtype=np.float32)
    marked = highlight([hit], query, sentences, embed=None, terms=terms)[0]  # type: ignore[arg-type]
    assert text[marked.highlight[0] : marked.highlight[1]] == "He warned of risks."
    # Weighed by the index's IDF instead (the earlier rule), the name's two words win.
    idf = {"ding": 2.0, "kuiling": 2.0, "warn": 3.0}
    by_idf = highlight([hit], query, sentences, embed=None, terms=terms, idf=idf)[0]  # type: ignore[arg-type]
    assert text[by_idf.highlight[0] : by_idf.highlight[1]] == "Ding Kuiling spoke."


def test_highlight_terms_must_be_a_known_rule() -> None:
    assert SearchConfig().highlight_terms == "isf"
    assert SearchConfig(highlight_terms="idf").highlight_terms == "idf"
    with pytest.raises(InvalidInputError, match="choose one of isf, idf"):
        SearchConfig(highlight_terms="bm25")


KINDS = {"number", "name", "place", "date", "list", "paraphrase", "skim"}


@pytest.mark.parametrize("name", ["seed_questions.jsonl", "seed_questions_heldout.jsonl"])
def test_the_repositorys_question_sets_are_well_formed(name: str) -> None:
    """Each bundled set loads, holds at least 50 questions of known kinds, and every answer
    phrase occurs in the document the question names and in no other."""
    questions = load_questions(Path(__file__).resolve().parent.parent / "bench" / name)
    documents = {p.stem: p.read_text(encoding="utf-8") for p in questions.corpus.glob("*.txt")}
    assert len(questions.questions) >= 50
    assert len({q.q for q in questions.questions}) == len(questions.questions)
    for question in questions.questions:
        assert question.kind in KINDS, question
        holding = sorted(doc for doc, text in documents.items() if holds(text, question.answers))
        assert holding == [question.doc_id], question


def test_eval_takes_every_ranking_option_a_query_takes(monkeypatch, tmp_path: Path, corpus: Path) -> None:
    """eval scores the settings a query can name: each ranking option of
    SearchConfig.from_options (all but the filters) reaches the evaluated config."""
    import inspect

    import hubsearch
    from hubsearch import FusionConfig, SearchConfig

    filters = {"since", "until", "doc_ids", "path", "min_score", "tags", "where"}
    eval_params = {p.name for p in cli.commands["eval"].params}
    assert set(inspect.signature(SearchConfig.from_options).parameters) - filters - {"mode"} <= eval_params
    seen = {}

    def fake_many(collections, *, config, **options):
        seen["config"] = config
        return EvalReport(())

    monkeypatch.setattr(hubsearch, "evaluate_many", fake_many)
    args = ["eval", str(_question_file(tmp_path, corpus)), "--json", "--alpha", "0.3", "--fusion", "rrf",
            "--rrf-k", "20", "--normalise", "minmax", "--sentences", "0.25", "--smoothing", "0.1", "--feedback"]
    out = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert out.exit_code == 0, out.stderr
    assert seen["config"] == SearchConfig.from_options(alpha=0.3, fusion="rrf", rrf_k=20, normalise="minmax",
                                                       sentences=0.25, smoothing=0.1, feedback=True)
    assert seen["config"].fusion == FusionConfig(method="rrf", normalise="minmax", alpha=0.3, rrf_k=20)


def test_evaluate_questions_cuts_passages_as_asked(tmp_path: Path, corpus: Path) -> None:
    path = _question_file(tmp_path, corpus)
    default = evaluate_questions(path, embedder=FakeEmbedder(), modes=("lexical",))
    short = ChunkingConfig(max_tokens=16, overlap_tokens=0)
    report = evaluate_many([path], embedder=FakeEmbedder(), modes=("lexical",), chunking=short).collections[0]
    assert report.chunking == short and default.chunking == ChunkingConfig()
    assert report.passages > default.passages


def test_eval_command_cuts_passages_as_asked(fake, tmp_path: Path, corpus: Path) -> None:
    questions = _question_file(tmp_path, corpus)
    runner = CliRunner()
    args = ["eval", str(questions), "--mode", "lexical", "--json"]
    default = json.loads(runner.invoke(cli, args).stdout)["collections"][0]
    out = runner.invoke(cli, args + ["--max-tokens", "16", "--overlap", "0", "--no-title-prefix"])
    assert out.exit_code == 0, out.stderr
    report = json.loads(out.stdout)["collections"][0]
    assert report["chunking"] == {"max_tokens": 16, "overlap_tokens": 0, "title_prefix": False}
    assert report["passages"] > default["passages"]
    table = runner.invoke(cli, args[:-1] + ["--max-tokens", "16", "--overlap", "0", "--no-title-prefix"])
    assert f"{report['passages']} passages (at most 16 tokens, overlap 0, no title prefix)" in table.stdout
    bad = runner.invoke(cli, args + ["--max-tokens", "8"])
    assert bad.exit_code == 2
    assert bad.stderr.strip().splitlines() == [
        "Error: max_tokens must be at least 16, got 8; pass a larger --max-tokens"]

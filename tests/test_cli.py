import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from hubsearch.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def in_project(tmp_path: Path, seeds_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder laid out like a fresh checkout: seeds/ and no index yet."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HUBSEARCH_INDEX")
    return tmp_path


def test_first_query_builds_index_from_seeds_then_reuses_it(fake, in_project: Path) -> None:
    first = run("query", "incubator square meters", "--json")
    assert first.exit_code == 0, first.stderr
    assert "built one from seeds/" in first.stderr
    assert "embedding passages" in first.stderr
    data = json.loads(first.stdout)  # nothing but JSON on stdout
    assert data["query"] == "incubator square meters"
    assert (in_project / "index" / "CURRENT").is_file()
    second = run("query", "incubator square meters", "--json")
    assert second.exit_code == 0
    assert "built" not in second.stderr
    assert json.loads(second.stdout) == data


def test_json_contract(fake, in_project: Path) -> None:
    result = run("query", "AI investment consortium", "-k", "4", "--json")
    results = json.loads(result.stdout)["results"]
    assert [r["rank"] for r in results] == [1, 2, 3, 4]
    for r in results:
        assert set(r) >= {"rank", "score", "doc_id", "source", "chunk_id", "start", "end", "text", "title", "date"}
        source_text = (in_project / "seeds" / r["source"]).read_text(encoding="utf-8")
        assert source_text[r["start"] : r["end"]] == r["text"]
        assert r["doc_id"] == Path(r["source"]).stem
        assert isinstance(r["score"], float)
    dense = json.loads(run("query", "AI investment consortium", "-k", "4", "--json", "--mode", "dense").stdout)
    scores = [r["score"] for r in dense["results"]]
    assert scores == sorted(scores, reverse=True)
    by_doc = {r["doc_id"]: r for r in json.loads(run("query", "Yangpu", "-k", "15", "--json").stdout)["results"]}
    assert by_doc["002_3bc810426908d2e2"]["date"] is None


def test_human_output_shows_rank_score_id_and_highlight(fake, in_project: Path) -> None:
    result = run("query", "Yangpu District AI hub", "-k", "2")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].lstrip().startswith("1. ")
    assert "002_3bc810426908d2e2" in result.stdout
    assert result.stdout.count("**") >= 2  # highlighted sentence, uncoloured when piped


def test_build_info_and_rebuild(fake, corpus: Path, tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    built = run("index", "build", str(corpus), "--index", str(idx), "--max-tokens", "64", "--overlap", "8",
                "--index-type", "hnsw")
    assert built.exit_code == 0
    assert "skipped" in built.stderr and "latin1.txt" in built.stderr
    info = json.loads(run("index", "info", "--index", str(idx), "--json").stdout)
    assert info["corpus"]["documents"] == 3
    assert info["chunking"]["max_tokens"] == 64 and info["chunking"]["overlap_tokens"] == 8
    assert info["model"]["name"] == "all-MiniLM-L6-v2" and info["model"]["dimension"] == 64
    assert info["vector_index"]["type"] == "hnsw"
    assert info["model"]["precision"] == "fp32"
    human = run("index", "info", "--index", str(idx))
    for key in ("documents:", "passages:", "model:", "dimension:", "chunking:", "built:", "versions:"):
        assert key in human.stdout
    (corpus / "extra.txt").write_text("Another document about kites.", encoding="utf-8")
    rebuilt = run("index", "rebuild", "--index", str(idx))
    assert rebuilt.exit_code == 0, rebuilt.stderr
    info2 = json.loads(run("index", "info", "--index", str(idx), "--json").stdout)
    assert info2["corpus"]["documents"] == 4
    assert info2["chunking"] == info["chunking"]
    assert info2["vector_index"]["type"] == "hnsw"  # the recorded choice survives a rebuild
    assert info2["model"]["name"] == "all-MiniLM-L6-v2"  # not the bundled folder's name


ERROR_CASES = [
    (["query", ""], "query is empty"),
    (["query", "   "], "query is empty"),
    (["query", "x", "-k", "0"], "k must be a whole number of at least 1, got 0; ask for e.g. 5 hits"),
    (["query", "x", "-k", "-2"], "k must be a whole number of at least 1"),
    (["query", "x", "-k", "many"], "is not a valid integer"),
    (["index", "build", "does/not/exist"], "no such file or folder"),
    (["index", "build", "{empty}"], "no readable documents"),
    (["index", "info", "--index", "{empty}"], "no index in the folder"),
    (["index", "rebuild", "--index", "{empty}"], "no index in the folder"),
    (["query", "x", "--index", "{empty}"], "no index in the folder"),
    (["query", "x", "--model", "{empty}"], "not a sentence-transformers model folder"),
    (["index", "build", "--index", "{empty}", "--model", "nowhere/model"], "does not exist"),
    (["index", "build", "--max-tokens", "4"], "max_tokens must be at least 16"),
    (["nonsense"], "No such command"),
]


@pytest.mark.parametrize(("args", "message"), ERROR_CASES)
def test_bad_input_gives_one_line_and_exit_2(fake, in_project: Path, args: list[str], message: str) -> None:
    empty = in_project / "empty"
    empty.mkdir(exist_ok=True)
    args = [a.replace("{empty}", str(empty)) for a in args]
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_query_with_a_different_model_is_refused(fake, in_project: Path, tmp_path: Path) -> None:
    assert run("query", "AI", "--json").exit_code == 0
    other = tmp_path / "other-model"
    other.mkdir()
    (other / "config.json").write_text("{}")
    result = run("query", "AI", "--model", str(other))
    assert result.exit_code == 2
    assert "was built with model all-MiniLM-L6-v2" in result.stderr
    assert "hubsearch index rebuild --model" in result.stderr


def test_damaged_index_message_names_the_fix(fake, in_project: Path) -> None:
    run("query", "AI", "--json")
    gen = in_project / "index" / (in_project / "index" / "CURRENT").read_text().strip()
    (gen / "vectors.faiss").write_bytes(b"garbage")
    result = run("query", "AI")
    assert result.exit_code == 2
    assert "is damaged" in result.stderr and "hubsearch index rebuild" in result.stderr


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from _commands(command, prefix + (name,))


@pytest.mark.parametrize("path", [p for p, _ in _commands(cli)], ids=lambda p: " ".join(p))
def test_every_command_has_help_with_text(path: tuple[str, ...]) -> None:
    result = run(*path, "--help")
    assert result.exit_code == 0
    command = dict(_commands(cli))[path]
    assert command.help and len(command.help.split()) >= 8
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help, f"{' '.join(path)} {param.opts} has no help"


def test_top_level_help_and_version() -> None:
    assert "hubsearch query" in run("--help").stdout
    assert run("--version").stdout.startswith("hubsearch, version")


def test_python_dash_m_runs_the_same_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hubsearch", "query", "", "--index", "nowhere"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        'Error: the query is empty; pass some words to search for, e.g. "incubator size"'
    )


def test_modes_and_explain_in_json(fake, in_project: Path) -> None:
    for mode in ("hybrid", "dense", "lexical"):
        result = run("query", "Yangpu District", "--mode", mode, "--explain", "--json", "-k", "3")
        assert result.exit_code == 0, result.stderr
        hits = json.loads(result.stdout)["results"]
        assert hits and all(h["explain"]["mode"] == mode for h in hits)
        if mode == "hybrid":
            e = hits[0]["explain"]
            assert {"dense", "sentences", "lexical", "fusion"} <= set(e)
            assert e["fusion"]["method"] == "weighted"
            assert e["fusion"]["formula"] == "0.25*zscore(dense) + 0.25*zscore(sentences) + 0.5*zscore(lexical)"
            assert e["fusion"]["score"] == pytest.approx(hits[0]["score"], abs=1e-5)
            total = sum(e[s]["contribution"] for s in ("dense", "sentences", "lexical"))
            assert total == pytest.approx(hits[0]["score"], abs=1e-5)
        else:
            assert set(hits[0]["explain"]) & {"dense", "lexical"} == {mode}
    plain = json.loads(run("query", "Yangpu District", "--json").stdout)["results"][0]
    assert "explain" not in plain
    minmax = run("query", "Yangpu District", "--explain", "--json", "--normalise", "minmax")
    e = json.loads(minmax.stdout)["results"][0]["explain"]
    assert e["fusion"]["formula"] == "0.25*minmax(dense) + 0.25*minmax(sentences) + 0.5*minmax(lexical)"


def test_explain_in_human_output(fake, in_project: Path) -> None:
    result = run("query", "Yangpu District", "--explain", "--fusion", "rrf", "-k", "2")
    assert result.exit_code == 0
    assert "explain: dense #" in result.stdout and "lexical #" in result.stdout
    assert "fused by rrf" in result.stdout


def test_eval_command_json(fake, tmp_path: Path) -> None:
    from .test_evaluation import _beir

    folder = _beir(tmp_path / "beir")
    result = run("eval", str(folder), "--mode", "lexical", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)["collections"][0]
    assert list(report["results"]) == ["lexical"]
    assert report["results"]["lexical"]["recall@100"] == pytest.approx(1.0)
    assert "per_query" not in report
    table = run("eval", str(folder), "--mode", "dense")
    assert "nDCG@10" in table.stdout and "dense" in table.stdout
    bad = run("eval", str(tmp_path))
    assert bad.exit_code == 2 and "is not a BEIR folder" in bad.stderr


def test_eval_scores_the_split_asked_for(fake, tmp_path: Path) -> None:
    from .test_evaluation import _beir

    folder = _beir(tmp_path / "beir")
    (folder / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\n1\tb\t1\n")
    dev = run("eval", str(folder), "--mode", "lexical", "--split", "dev")
    assert dev.exit_code == 0, dev.stderr
    assert "1 judged queries (qrels/dev.tsv)" in dev.stdout
    report = json.loads(run("eval", str(folder), "--mode", "lexical", "--split", "dev", "--json").stdout)
    assert report["collections"][0]["split"] == "dev"
    assert report["collections"][0]["results"]["lexical"]["mrr"] < 1.0  # "orchards apples" is not about rockets
    test = json.loads(run("eval", str(folder), "--mode", "lexical", "--json").stdout)
    assert test["collections"][0]["queries"] == 2 and test["collections"][0]["split"] == "test"
    missing = run("eval", str(folder), "--split", "train")
    assert missing.exit_code == 2 and "judges queries in dev, test; choose one with --split test" in missing.stderr


def _feedback_index(tmp_path: Path) -> Any:
    """An index, built with the fake embedder, big enough for feedback to run."""
    from hubsearch import Index, SearchConfig

    from .conftest import FakeEmbedder

    root = tmp_path / "c"
    root.mkdir()
    for i in range(30):  # 30 documents of 8 passages each: enough for feedback
        body = " ".join(f"Sentence {j} of document {i} about topic{i} and rivers." for j in range(40))
        (root / f"d{i}.txt").write_text(body, encoding="utf-8")
    index = Index.build([root], tmp_path / "i", embedder=FakeEmbedder())
    assert index.manifest.corpus.passages >= SearchConfig().feedback.min_passages
    return index


def test_explain_reports_the_feedback_that_ran(fake, tmp_path: Path) -> None:
    from hubsearch import SearchConfig

    index = _feedback_index(tmp_path)
    assert index.search("topic3 rivers", k=1, explain=True)[0].explain["feedback"] == {"rm3": False, "rocchio": False}
    asked = SearchConfig(rm3=True, rocchio=True)
    explain = index.search("topic3 rivers", k=1, config=asked, explain=True)[0].explain
    with_terms = explain["feedback"]
    assert (with_terms["rm3"], with_terms["rocchio"]) == (True, True)
    # The second pass is mixed with the first, half and half, before smoothing.
    first, second = with_terms["first_pass"] or 0.0, with_terms["second_pass"] or 0.0
    mixed = explain["smoothing"]["before"] if "smoothing" in explain else index.search(
        "topic3 rivers", k=1, config=asked)[0].score
    assert with_terms["share"] == 0.5 and mixed == pytest.approx(0.5 * first + 0.5 * second, abs=1e-5)
    # Only stopwords: the BM25 side has no terms, so RM3 cannot run, and explain says so.
    no_terms = index.search("the and of", k=1, config=asked, explain=True)[0].explain["feedback"]
    assert (no_terms["rm3"], no_terms["rocchio"]) == (False, True)


def _large_index(tmp_path: Path) -> Path:
    """Build, through the CLI, an index big enough for feedback and smoothing to run."""
    from hubsearch import SearchConfig

    root = tmp_path / "c"
    root.mkdir()
    for i in range(40):  # the real model's 256-token window: about 6 passages a document
        body = " ".join(f"Sentence {j} of document {i} about topic{i % 7} and rivers." for j in range(150))
        (root / f"d{i}.txt").write_text(body, encoding="utf-8")
    assert run("index", "build", str(root), "--index", str(tmp_path / "i")).exit_code == 0
    info = json.loads(run("index", "info", "--index", str(tmp_path / "i"), "--json").stdout)
    assert info["corpus"]["passages"] >= SearchConfig().feedback.min_passages
    return tmp_path / "i"


def test_explain_shows_smoothing_and_it_can_be_turned_off(fake, tmp_path: Path) -> None:
    from hubsearch.settings import SMOOTHING

    _large_index(tmp_path)
    result = run("query", "topic3 rivers", "--index", str(tmp_path / "i"), "--explain", "--json", "-k", "3")
    assert result.exit_code == 0, result.stderr
    for hit in json.loads(result.stdout)["results"]:
        sm = hit["explain"]["smoothing"]
        assert sm["weight"] == SMOOTHING
        assert sm["score"] == pytest.approx(hit["score"], abs=1e-5)
        assert sm["score"] == pytest.approx((1 - sm["weight"]) * sm["before"] + sm["weight"] * sm["neighbours"],
                                            abs=1e-5)
        assert hit["explain"]["fusion"]["score"] == pytest.approx(sm["before"], abs=1e-5)
    text = run("query", "topic3 rivers", "--index", str(tmp_path / "i"), "--explain", "-k", "1")
    assert "smoothed: 0.8*before + 0.2*mean of 5 nearest" in text.stdout
    off = run("query", "topic3 rivers", "--index", str(tmp_path / "i"), "--explain", "--json", "--smoothing", "0")
    assert all("smoothing" not in h["explain"] for h in json.loads(off.stdout)["results"])
    bad = run("query", "topic3 rivers", "--index", str(tmp_path / "i"), "--smoothing", "2")
    assert bad.exit_code == 2 and "--smoothing" in bad.stderr


def test_smoothing_reaches_as_deep_as_smoothing_candidates(fake, tmp_path: Path) -> None:
    from hubsearch import SearchConfig

    index = _feedback_index(tmp_path)
    passages = index.manifest.corpus.passages
    deep = index.search("topic3 rivers", k=passages, explain=True)
    assert len(deep) == passages > 100  # the default smooths beyond the top 100 too
    assert all("smoothing" in hit.explain for hit in deep)
    shallow = index.search("topic3 rivers", k=passages, config=SearchConfig(smoothing_candidates=50), explain=True)
    assert sum("smoothing" in hit.explain for hit in shallow) == 50


def test_rm3_feedback_passages_count_by_their_first_pass_score(fake, tmp_path: Path, monkeypatch) -> None:
    from hubsearch import SearchConfig
    from hubsearch.query import feedback

    index = _feedback_index(tmp_path)
    seen: list[list[float]] = []
    real = feedback.rm3

    def spy(lexical, weights, texts, fb_scores, config):
        seen.append(list(fb_scores))
        return real(lexical, weights, texts, fb_scores, config)

    monkeypatch.setattr(feedback, "rm3", spy)
    config = SearchConfig(smoothing=0.0, rm3=True, rocchio=False)
    _, first = index.trace("topic3 rivers", k=3, config=SearchConfig(rm3=False, rocchio=False, smoothing=0.0))
    index.search("topic3 rivers", k=3, config=config)
    assert seen == [pytest.approx([f.score for f in first.ranking[:3]])]
    assert len(set(seen[0])) > 1  # the scores differ, so the weighting matters


@pytest.mark.parametrize(("mode", "feedback"), [("dense", "rocchio"), ("lexical", "rm3")])
def test_single_side_modes_run_plain_unless_asked(fake, tmp_path: Path, mode: str, feedback: str) -> None:
    index = str(_large_index(tmp_path))
    plain = run("query", "topic3 rivers", "--index", index, "--mode", mode, "--explain", "--json")
    for hit in json.loads(plain.stdout)["results"]:
        assert hit["explain"]["feedback"] == {"rm3": False, "rocchio": False}
        assert "smoothing" not in hit["explain"]
        assert hit["score"] == pytest.approx(hit["explain"][mode]["score"], abs=1e-5)  # the side's own score
    asked = run("query", "topic3 rivers", "--index", index, "--mode", mode, "--explain", "--json",
                "--feedback", "--smoothing", "0.3")
    for hit in json.loads(asked.stdout)["results"]:
        assert hit["explain"]["feedback"][feedback] is True
        assert hit["explain"]["smoothing"]["weight"] == 0.3
    hybrid = run("query", "topic3 rivers", "--index", index, "--explain", "--json", "--no-feedback")
    for hit in json.loads(hybrid.stdout)["results"]:
        assert hit["explain"]["feedback"] == {"rm3": False, "rocchio": False}
        assert "smoothing" in hit["explain"]


@pytest.mark.parametrize("width", [60, 80, 100])
def test_help_never_breaks_a_word_across_lines(width: int) -> None:
    for path, command in _commands(cli):
        shown = CliRunner().invoke(cli, [*path, "--help"], terminal_width=width).stdout
        shown = " ".join(shown.split()).replace("- ", "-")  # a break after a hyphen is fine
        for param in command.params:
            for word in (getattr(param, "help", None) or "").split():
                assert word in shown, (path, param.name, word)


def test_text_output_trims_long_passages_around_the_highlight(fake, tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    left = " ".join(f"Left filler {i} talks about nothing much." for i in range(12))
    right = " ".join(f"Right filler {i} talks about nothing much." for i in range(12))
    (root / "long.txt").write_text(f"Glaciers\n{left} The glacier retreated nine kilometres. {right}",
                                   encoding="utf-8")
    assert run("index", "build", str(root), "--index", str(tmp_path / "i")).exit_code == 0
    trimmed = run("query", "glacier retreated nine kilometres", "--index", str(tmp_path / "i"), "-k", "1")
    body = " ".join(trimmed.stdout.split())
    assert "**The glacier retreated nine kilometres.**" in body
    assert body.count("…") == 2 and "Left filler 0 " not in body and "Right filler 11 " not in body
    assert "Left filler 11 " in body and "Right filler 0 " in body  # context on both sides
    full = run("query", "glacier retreated nine kilometres", "--index", str(tmp_path / "i"), "-k", "1", "--full")
    whole = " ".join(full.stdout.split())
    assert "…" not in whole and "Left filler 0 " in whole and "Right filler 11 " in whole


def test_each_progress_bar_is_drawn_to_its_end_once(fake, corpus: Path, tmp_path: Path, monkeypatch) -> None:
    import time

    from .conftest import FakeEmbedder

    real = FakeEmbedder.embed

    def slow(self, texts, progress=None):
        time.sleep(0.2)  # longer than tqdm's redraw interval, as real embedding is
        return real(self, texts, progress)

    monkeypatch.setattr(FakeEmbedder, "embed", slow)
    result = run("index", "build", str(corpus), "--index", str(tmp_path / "i"))
    assert result.exit_code == 0
    assert result.stderr.count("embedding passages: 100%") == 1
    assert result.stderr.count("embedding sentences: 100%") == 1

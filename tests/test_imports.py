"""What each kind of process loads: help never touches the numeric stack."""

import json
import subprocess
import sys

import pytest

HEAVY = ("numpy", "faiss", "onnxruntime", "torch", "sentence_transformers")

PROBE = (
    "import sys, json\n"
    "from hubsearch.cli import main\n"
    "import os\ndef leave(code):\n    raise SystemExit(code)\nos._exit = leave  # main skips the teardown after a query\n"
    "sys.argv = ['hubsearch'] + json.loads(sys.argv[1])\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)\n"
)


@pytest.mark.parametrize("args", [["--help"], ["query", "--help"], ["index", "build", "--help"], ["--version"]])
def test_help_imports_no_numeric_library(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True,
                            timeout=60)
    assert "Usage" in result.stdout or "version" in result.stdout
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []


def test_importing_the_package_is_light() -> None:
    probe = f"import sys, hubsearch; print([m for m in {HEAVY!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]"


def test_a_query_on_a_flat_index_never_imports_faiss(corpus, tmp_path) -> None:
    from hubsearch import Index

    from .conftest import FakeEmbedder

    Index.build([corpus], tmp_path / "idx", embedder=FakeEmbedder()).close()
    probe = (
        "import sys\n"
        "from hubsearch import Index\n"
        "from tests.conftest import FakeEmbedder\n"
        f"hits = Index.open({str(tmp_path / 'idx')!r}, embedder=FakeEmbedder()).search('apples', k=2)\n"
        "print(hits[0].doc_id, 'faiss' in sys.modules)\n"
    )
    from .conftest import ROOT

    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.stdout.split() == ["apples", "False"], result.stderr

from pathlib import Path

import pytest

from hubsearch.errors import NoDocumentsError, SourceError
from hubsearch.ingest.files import load_documents
from hubsearch.ingest.metadata import extract_date, extract_title

from .conftest import SEEDS


@pytest.mark.parametrize(
    ("doc_id", "date", "title_start"),
    [
        ("000_60b8c51bf5f9f4ef", "2024-07-05", "Xuhui aiming to become global hub"),
        ("001_326d74904817d67b", "2019-08-01", "Shanghai gears up to be AI hub"),
        ("002_3bc810426908d2e2", None, "Yangpu District aims to become AI innovation hub"),
        ("003_ac3063689a687628", "2020-07-11", "Shanghai introduces AI investment consortium"),
        ("004_151d86a0f29a9671", "2025-02-07", "Shanghai will establish the world's largest"),
    ],
)
def test_seed_titles_and_dates(doc_id: str, date: str | None, title_start: str) -> None:
    docs, skipped = load_documents([SEEDS])
    doc = {d.doc_id: d for d in docs}[doc_id]
    assert doc.date == date
    assert doc.title is not None and doc.title.startswith(title_start)
    assert doc.source == f"{doc_id}.txt"
    assert skipped == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" date 2025-02-07 Headline", "2025-02-07"),
        ("Site\n(example.com)Updated : 2019-08-01\n", "2019-08-01"),
        ("Published: 18:16, July 11, 2020 | Updated: 22:37, June 5, 2023", "2020-07-11"),
        ("Posted on 3 March 2021\nBody", "2021-03-03"),
        ("Updated: Sept. 9, 2022", "2022-09-09"),
        ("No date here at all.", None),
        ("date 2025-13-45 impossible", None),
    ],
)
def test_extract_date(text: str, expected: str | None) -> None:
    assert extract_date(text) == expected


def test_markdown_title_uses_heading() -> None:
    assert extract_title("intro line\n# Real Title\nbody", ".md") == "Real Title"


def test_long_first_line_title_is_cut_at_first_sentence() -> None:
    line = "A short headline. " + "word " * 100
    assert extract_title(line) == "A short headline."


def test_invalid_utf8_is_skipped_and_reported(corpus: Path) -> None:
    docs, skipped = load_documents([corpus])
    assert sorted(d.doc_id for d in docs) == ["apples", "sub/rockets", "tea"]
    assert [Path(s.path).name for s in skipped] == ["ignored.xyz", "latin1.txt"]
    assert "unsupported type (.xyz)" in skipped[0].reason and "UTF-8" in skipped[1].reason


def test_single_file_path_is_named_relative_to_its_folder(corpus: Path) -> None:
    docs, _ = load_documents([corpus / "sub" / "rockets.md"])
    assert [(d.doc_id, d.source) for d in docs] == [("rockets", "rockets.md")]


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or folder"):
        load_documents([tmp_path / "nope"])


def test_folder_without_documents_raises(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"\x00\x01")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(NoDocumentsError, match="no readable documents"):
        load_documents([tmp_path])


def test_duplicate_doc_ids_across_roots_are_refused(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "same.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(SourceError, match="share the document ID 'same'"):
        load_documents([tmp_path / "a", tmp_path / "b"])


def test_unreadable_file_is_reported_and_skipped(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Running as root, mode 000 does not stop reads, so refuse this one file's read directly.
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "tea.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    docs, skipped = load_documents([corpus])
    assert "tea" not in {d.doc_id for d in docs} and {"apples", "sub/rockets"} <= {d.doc_id for d in docs}
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert reasons["tea.txt"] == "cannot read: Permission denied"

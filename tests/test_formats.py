"""HTML and PDF sources."""

from pathlib import Path

import pytest

from hubsearch import Index, SearchConfig
from hubsearch.ingest.files import load_documents

from .conftest import FakeEmbedder

LEXICAL = SearchConfig(mode="lexical", rm3=False)

PAGE = """<!doctype html><html><head><title>Tidal power plants</title>
<meta property="article:published_time" content="2024-03-05T10:00:00Z">
<script>var tracking = "scriptword";</script><style>.x{color:red}</style></head>
<body><nav><a href="/">Home</a> <a href="/about">About navword</a></nav>
<article><h1>Tidal power plants</h1>
<p>Tidal barrages generate electricity from the rise and fall of the sea. The Rance plant in
France has produced power since 1966 and remains one of the largest in the world.</p>
<p>Tidal stream turbines work like underwater windmills and need strong currents to turn
their blades efficiently, which limits where they can be installed.</p></article>
<footer>Copyright footerword 2024</footer></body></html>"""


def minimal_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF showing `lines` in Helvetica."""
    text = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) Tj T*" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(text)} >>\nstream\n{text}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def test_html_main_text_title_and_date(tmp_path: Path) -> None:
    (tmp_path / "tidal.html").write_text(PAGE, encoding="utf-8")
    docs, skipped = load_documents([tmp_path])
    assert skipped == []
    doc = docs[0]
    assert doc.doc_id == "tidal" and doc.title == "Tidal power plants"
    assert doc.date == "2024-03-05"
    assert "Rance plant in" in doc.text and "underwater windmills" in doc.text
    for noise in ("scriptword", "color:red", "<p>", "navword"):
        assert noise not in doc.text


def test_pdf_text_is_indexed_and_searchable(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(minimal_pdf(["Glaciers retreat in warm summers.", "Moraines mark old ice."]))
    (tmp_path / "note.txt").write_text("Unrelated note about bread.", encoding="utf-8")
    index = Index.build([tmp_path], tmp_path / "idx", embedder=FakeEmbedder())
    hit = index.search("glaciers moraines", k=1, config=LEXICAL)[0]
    assert hit.doc_id == "report" and hit.source == "report.pdf"
    assert "Glaciers retreat" in hit.text


def test_broken_html_and_pdf_are_reported_and_the_build_goes_on(tmp_path: Path) -> None:
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf \x00\x01\x02")
    (tmp_path / "empty.html").write_text("<html><body></body></html>", encoding="utf-8")
    (tmp_path / "good.md").write_text("# Good\nFine text.", encoding="utf-8")
    docs, skipped = load_documents([tmp_path])
    assert [d.doc_id for d in docs] == ["good"]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert "PDF" in reasons["broken.pdf"]
    assert "empty.html" in reasons


@pytest.mark.parametrize(
    ("head", "body_extra", "expected"),
    [
        ("", "", None),  # only a footer's copyright year: no publication date
        ('<meta property="article:published_time" content="2023-03-05T10:00:00Z">', "", "2023-03-05"),
        ("", '<time datetime="2022-07-01">July 1, 2022</time>', "2022-07-01"),
    ],
)
def test_html_dates_come_from_publication_metadata_only(tmp_path: Path, head: str, body_extra: str,
                                                        expected: str | None) -> None:
    page = PAGE.replace('<meta property="article:published_time" content="2024-03-05T10:00:00Z">', head)
    page = page.replace("<h1>Tidal power plants</h1>", f"<h1>Tidal power plants</h1>{body_extra}")
    (tmp_path / "tidal.html").write_text(page, encoding="utf-8")
    docs, _ = load_documents([tmp_path])
    assert docs[0].date == expected


def test_reading_a_broken_pdf_prints_nothing(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf \x00\x01\x02")
    (tmp_path / "ok.txt").write_text("Glaciers retreat in warm summers.", encoding="utf-8")
    probe = (
        "import sys; from hubsearch.ingest.files import load_documents; "
        "docs, skipped = load_documents(sys.argv[1:]); print(skipped[0].reason)"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.stdout.startswith("cannot read the PDF")
    assert result.stderr == ""  # pypdf's own "EOF marker not found" stays quiet

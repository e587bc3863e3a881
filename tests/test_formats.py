"""Each supported format, on a real file the test makes: a question about it finds it and
highlights the sentence that answers."""

import zipfile
from pathlib import Path

import pytest

from hubsearch import Index

from .conftest import FakeEmbedder

ANSWERS = {
    "word": "The warehouse in Lyon stores eleven thousand crates of porcelain.",
    "slides": "Quarterly revenue from the kelp farms rose by nine percent.",
    "sheet": "region: Patagonia | llamas: 412",
    "table": "river: Danube | bridges: 27",
    "rst": "The lighthouse keeper winds the clockwork every fourth hour.",
    "org": "The beekeeper harvests heather honey in late August.",
    "code": "    return sum(weights) / len(weights)  # average weight of the parcels",
    "book": "The cartographer sailed north to chart the glacier fjords.",
}
QUESTIONS = {
    "word": "porcelain crates warehouse Lyon", "slides": "kelp farms revenue", "sheet": "Patagonia llamas",
    "table": "Danube bridges", "rst": "lighthouse keeper clockwork", "org": "beekeeper heather honey",
    "code": "average weight parcels", "book": "cartographer glacier fjords",
}


def _word(path: Path) -> None:
    from docx import Document

    doc = Document()
    doc.add_heading("Storage report", level=1)
    doc.add_paragraph("Our depots keep many goods. " + ANSWERS["word"] + " Shipping resumes in May.")
    table = doc.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "depot", "crates"
    table.cell(1, 0).text, table.cell(1, 1).text = "Lyon", "11000"
    doc.save(path)


def _slides(path: Path) -> None:
    from pptx import Presentation

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Aquaculture results"
    slide.placeholders[1].text = "Seaweed is a growing business. " + ANSWERS["slides"]
    deck.save(path)


def _sheet(path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Herds"
    sheet.append(["region", "llamas"])
    for region, count in [("Andes", 980), ("Patagonia", 412), ("Altiplano", 1500)]:
        sheet.append([region, count])
    book.save(path)


def _epub(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("mimetype", "application/epub+zip")
        book.writestr("META-INF/container.xml", '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:'
                      'tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" '
                      'media-type="application/oebps-package+xml"/></rootfiles></container>')
        book.writestr("OEBPS/content.opf", '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" '
                      'version="3.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Northern '
                      'Voyages</dc:title></metadata><manifest><item id="c1" href="one.xhtml" media-type="application/'
                      'xhtml+xml"/></manifest><spine><itemref idref="c1"/></spine></package>')
        book.writestr("OEBPS/one.xhtml", "<html><body><h1>Chapter one</h1><p>It was a cold spring. "
                      + ANSWERS["book"] + "</p></body></html>")


def _write(root: Path) -> None:
    root.mkdir()
    _word(root / "report.docx")
    _slides(root / "deck.pptx")
    _sheet(root / "herds.xlsx")
    _epub(root / "voyages.epub")
    (root / "rivers.csv").write_text("river,bridges\nRhine,40\nDanube,27\nLoire,12\n", encoding="utf-8")
    (root / "keeper.rst").write_text("Lighthouses\n===========\n\nThe coast is rocky. " + ANSWERS["rst"] + "\n",
                                     encoding="utf-8")
    (root / "bees.org").write_text("#+TITLE: Bees\n\n* Harvest\n" + ANSWERS["org"] + "\n", encoding="utf-8")
    (root / "parcels.py").write_text("def average(weights):\n    \"\"\"Mean of the weights.\"\"\"\n"
                                     + ANSWERS["code"] + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    root = tmp_path_factory.mktemp("formats")
    _write(root / "corpus")
    return Index.build([root / "corpus"], root / "idx", embedder=FakeEmbedder())


@pytest.mark.parametrize("kind", list(ANSWERS))
def test_each_format_is_found_and_its_answer_highlighted(index: Index, kind: str) -> None:
    hit = index.search(QUESTIONS[kind], k=1, mode="lexical")[0]
    assert hit.highlight_text is not None and ANSWERS[kind].strip() in hit.highlight_text, (kind, hit.text)


def test_every_file_was_read_and_titled(index: Index) -> None:
    sources = {s.source: s for s in index.manifest.sources}
    assert set(sources) == {"report.docx", "deck.pptx", "herds.xlsx", "voyages.epub", "rivers.csv", "keeper.rst",
                            "bees.org", "parcels.py"}
    assert index.manifest.skipped == []
    assert sources["report.docx"].title == "Storage report"
    assert sources["deck.pptx"].title == "Aquaculture results"
    assert sources["voyages.epub"].title == "Northern Voyages"


def test_table_rows_carry_their_header(index: Index) -> None:
    text = index.document("rivers").text
    assert text.splitlines()[:3] == ["river: Rhine | bridges: 40", "river: Danube | bridges: 27",
                                     "river: Loire | bridges: 12"]

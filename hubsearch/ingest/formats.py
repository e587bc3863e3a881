"""Text out of each supported kind of file: an `Extracted` record from its bytes.

Passage offsets index into the text returned here. Plain text, Markdown, reStructuredText,
Org and source code are the file's own text; the others are extracted, each by a well-kept
library: web pages (trafilatura), PDF (pypdf), Word and PowerPoint (python-docx,
python-pptx), Excel (openpyxl), CSV (the standard library) and EPUB (its XHTML chapters).
Tables become one line per row that repeats the header ("name: value | ..."), so any
passage cut from them still says what each value is.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

from .code import PATTERNS as CODE_PATTERNS
from .code import code_title, definitions
from .markdown import front_date, front_title, headings, parse_markdown
from .metadata import extract_title

MARKDOWN_SUFFIXES = (".md", ".markdown")
CODE_SUFFIXES = (".py", ".js", ".ts", ".tsx", ".jsx", ".go", ".rs", ".java", ".c", ".h", ".cpp", ".hpp", ".cs",
                 ".rb", ".php", ".sh", ".swift", ".kt", ".scala", ".sql")
TEXT_SUFFIXES = (".txt", ".rst", ".org", *MARKDOWN_SUFFIXES, *CODE_SUFFIXES)
HTML_SUFFIXES = (".html", ".htm")
PDF_SUFFIXES = (".pdf",)
OFFICE_SUFFIXES = (".docx", ".pptx", ".xlsx")
TABLE_SUFFIXES = (".csv", ".tsv")
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES + PDF_SUFFIXES + OFFICE_SUFFIXES + TABLE_SUFFIXES + (".epub",)
ROWS_PER_BLOCK = 10  # table rows between blank lines, so a passage holds whole rows


class Unreadable(Exception):
    """Why a file's text could not be extracted, and the kind of skip it is."""

    def __init__(self, message: str, kind: str = "unreadable") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Extracted:
    """What a file holds: its text (passage offsets index into it), and the title, date,
    declared fields (`meta`) and headings found in it (None or empty where there are none)."""

    text: str
    title: str | None = None
    date: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    headings: tuple[tuple[int, int, str], ...] = ()


def extract(data: bytes, suffix: str) -> Extracted:
    """A file's bytes read as the kind of file `suffix` names (plain UTF-8 text for the
    kinds without an extractor of their own).

    Raises:
        Unreadable: The file cannot be read, with the reason and the kind of skip.
    """
    reader = _EXTRACTORS.get(suffix)
    if reader is None:
        return Extracted(_utf8(data))
    try:
        return reader(data)
    except Unreadable:
        raise
    except Exception as exc:  # the readers raise many kinds on damaged files
        raise Unreadable(f"cannot read the {suffix[1:]} file ({type(exc).__name__}: {str(exc)[:80]})") from None


def _utf8(data: bytes) -> str:
    """The bytes as UTF-8 text, without a byte-order mark."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not valid UTF-8 (byte {exc.start}); convert it to UTF-8", "encoding") from None
    return text[1:] if text.startswith("\ufeff") else text


def _extract_markdown(data: bytes) -> Extracted:
    """Front matter as `meta` (its title and date the document's), markup blanked in place
    (see `markdown.parse_markdown`), and the headings, for passage titles."""
    source = _utf8(data)
    text, meta = parse_markdown(source)
    return Extracted(text, front_title(meta) or extract_title(source, ".md"), front_date(meta), meta,
                     tuple(headings(source)))


def _code_reader(suffix: str):
    def extract_code(data: bytes) -> Extracted:
        """The file's own text, with its definitions as headings: passages are cut at them
        and titled by the function or class they sit in."""
        text = _utf8(data)
        return Extracted(text, code_title(text), headings=tuple(definitions(text, suffix)))

    return extract_code


def _extract_html(data: bytes) -> Extracted:
    """Main text of a web page, without navigation, scripts or markup (trafilatura)."""
    try:
        import trafilatura
    except ImportError:  # pragma: no cover - a core dependency
        raise Unreadable("HTML needs trafilatura; install it with: pip install trafilatura") from None
    try:
        # Only real publication metadata (<meta>, <time>, JSON-LD, the URL): the extensive
        # search would read a footer's "Copyright 2024" as 2024-01-01.
        found = trafilatura.bare_extraction(
            data, with_metadata=True, include_comments=False, favor_recall=True,
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
    except Exception as exc:  # the extractor raises many kinds on broken input
        raise Unreadable(f"cannot extract text from HTML ({type(exc).__name__})") from None
    if found is None:
        raise Unreadable("no main text found in the HTML")
    get = found.get if isinstance(found, dict) else lambda key: getattr(found, key, None)
    text = get("text") or ""
    title = (get("title") or "").strip() or None
    published = get("date")
    return Extracted(text, title, published if isinstance(published, str)
                     and re.fullmatch(r"\d{4}-\d{2}-\d{2}", published) else None)


def _extract_pdf(data: bytes) -> Extracted:
    """Text of each page of a PDF, pages separated by a blank line (pypdf)."""
    try:
        from pypdf import PdfReader
    except ImportError:  # pragma: no cover - a core dependency
        raise Unreadable("PDF needs pypdf; install it with: pip install pypdf") from None
    import logging

    # pypdf logs what it repairs or gives up on ("EOF marker not found"); the reason a file
    # is skipped is reported once, by the caller.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise Unreadable("the PDF is encrypted; decrypt it first")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        meta = reader.metadata
        title = (meta.title or "").strip() if meta and meta.title else None
    except Unreadable:
        raise
    except Exception as exc:  # pypdf raises many kinds on damaged files
        raise Unreadable(f"cannot read the PDF ({type(exc).__name__}: {str(exc)[:80]})") from None
    return Extracted("\n\n".join(p for p in pages if p), title)


def _table_text(rows: list[list[str]]) -> str:
    """Rows under their header, one line each ("column: value | ..."), in blocks of
    `ROWS_PER_BLOCK` separated by blank lines."""
    rows = [[c.strip() for c in row] for row in rows if any(c.strip() for c in row)]
    if not rows:
        return ""
    header, body = rows[0], rows[1:] or [rows[0]]
    lines = []
    for n, row in enumerate(body):
        cells = [f"{header[i] if i < len(header) and header[i] else f'column {i + 1}'}: {v}"
                 for i, v in enumerate(row) if v]
        lines.append(" | ".join(cells) + ("\n" if (n + 1) % ROWS_PER_BLOCK == 0 else ""))
    return "\n".join(lines)


def _extract_csv(data: bytes) -> Extracted:
    import csv

    text = _utf8(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    return Extracted(_table_text(list(csv.reader(io.StringIO(text), dialect))))


def _extract_xlsx(data: bytes) -> Extracted:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    sheets = []
    for sheet in book.worksheets:
        rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        table = _table_text(rows)
        if table:
            sheets.append(f"{sheet.title}\n\n{table}")
    title = (book.properties.title or "").strip() or None
    return Extracted("\n\n".join(sheets), title)


def _extract_docx(data: bytes) -> Extracted:
    from docx import Document as Word

    document = Word(io.BytesIO(data))
    blocks = [p.text.strip() for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        blocks.append(_table_text([[cell.text for cell in row.cells] for row in table.rows]))
    title = (document.core_properties.title or "").strip() or None
    if title is None:
        title = next((p.text.strip() for p in document.paragraphs
                      if p.style is not None and p.style.name in ("Title", "Heading 1") and p.text.strip()), None)
    return Extracted("\n\n".join(b for b in blocks if b), title)


def _extract_pptx(data: bytes) -> Extracted:
    from pptx import Presentation

    deck = Presentation(io.BytesIO(data))
    slides, title = [], (deck.core_properties.title or "").strip() or None
    for slide in deck.slides:
        texts = [shape.text_frame.text.strip() for shape in slide.shapes
                 if shape.has_text_frame and shape.text_frame.text.strip()]
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame.text.strip():
            texts.append(slide.notes_slide.notes_text_frame.text.strip())
        if texts:
            slides.append("\n\n".join(texts))
        if title is None and slide.shapes.title is not None and slide.shapes.title.text.strip():
            title = slide.shapes.title.text.strip()
    return Extracted("\n\n".join(slides), title)


def _extract_epub(data: bytes) -> Extracted:
    """The chapters of an EPUB in reading order (its OPF spine), as plain text."""
    import posixpath
    import zipfile

    from lxml import etree, html

    book = zipfile.ZipFile(io.BytesIO(data))
    container = etree.fromstring(book.read("META-INF/container.xml"))
    opf_path = container.find(".//{*}rootfile").get("full-path")
    opf = etree.fromstring(book.read(opf_path))
    base = posixpath.dirname(opf_path)
    items = {i.get("id"): i.get("href") for i in opf.iterfind(".//{*}manifest/{*}item")}
    chapters = []
    for ref in opf.iterfind(".//{*}spine/{*}itemref"):
        href = items.get(ref.get("idref"))
        if href:
            page = html.fromstring(book.read(posixpath.join(base, href)))
            for junk in page.xpath("//script|//style"):
                junk.drop_tree()
            text = re.sub(r"[ \t]+", " ", page.text_content())
            chapters.append(re.sub(r"\n\s*\n+", "\n\n", text).strip())
    title_node = opf.find(".//{*}metadata/{*}title")
    title = title_node.text.strip() if title_node is not None and title_node.text else None
    return Extracted("\n\n".join(c for c in chapters if c), title)


_EXTRACTORS = {
    **dict.fromkeys(MARKDOWN_SUFFIXES, _extract_markdown), **dict.fromkeys(HTML_SUFFIXES, _extract_html),
    **dict.fromkeys(PDF_SUFFIXES, _extract_pdf), **dict.fromkeys(TABLE_SUFFIXES, _extract_csv),
    ".xlsx": _extract_xlsx, ".docx": _extract_docx, ".pptx": _extract_pptx, ".epub": _extract_epub,
    **{suffix: _code_reader(suffix) for suffix in CODE_PATTERNS},
}

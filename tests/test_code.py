"""Source code is cut at definitions, and each passage is titled by the definition it sits in."""

import re
import textwrap
from pathlib import Path

import pytest

from hubsearch import Index
from hubsearch.indexer.assemble import passage_title
from hubsearch.ingest.chunking import chunk_text
from hubsearch.ingest.code import definitions
from hubsearch.ingest.files import SourceFile, read_document

from .conftest import FakeEmbedder

SHOP = textwrap.dedent('''\
    """Shopping helpers for the greengrocer."""
    import os


    class Basket:
        """A basket of fruit and vegetables."""

        def __init__(self):
            self.items = []

        @property
        def total(self):
            """The price of everything in the basket, in cents."""
            return sum(item.price for item in self.items)


    @cache
    def ripen(tomato, days=3):
        """Tomatoes left on the sill ripen a day at a time."""
        for _ in range(days):
            tomato.age += 1
        return tomato


    async def fetch_prices(url):
        """Today's prices from the wholesale market."""
        return await get(url)
''')


def _words(texts):
    return [[(m.start(), m.end()) for m in re.finditer(r"\S+", t)] for t in texts]


def test_python_definitions_with_their_decorators_and_nesting() -> None:
    found = definitions(SHOP, ".py")
    assert [(level, label) for _, level, label in found] == [
        (1, "class Basket"), (2, "def __init__"), (2, "def total"), (1, "def ripen"), (1, "def fetch_prices")]
    starts = {label: at for at, _, label in found}
    assert SHOP[starts["def total"]:].lstrip().startswith("@property\n")
    assert SHOP[starts["def ripen"]:].startswith("@cache\ndef ripen")


@pytest.mark.parametrize(("suffix", "source", "labels"), [
    (".js", "export async function load(a) {\n  return 1;\n}\nconst add = (a, b) => a + b;\nclass Cart {}\n",
     ["function load", "add()", "class Cart"]),
    (".go", "package main\n\nfunc (s *Server) Handle(w Writer) {\n}\ntype Item struct {\n}\n",
     ["func Handle", "type Item"]),
    (".rs", "pub fn main() {}\n#[derive(Debug)]\npub struct Crate;\n", ["fn main", "struct Crate"]),
    (".java", "public class Shop {\n    public static int total(List<Item> items) throws IOException {\n"
              "        if (x) {\n        }\n        return 0;\n    }\n}\n", ["class Shop", "total()"]),
    (".c", "int main(int argc, char **argv)\n{\n  return 0;\n}\nstatic void helper(void) {\n}\n",
     ["main()", "helper()"]),
    (".sql", "CREATE TABLE IF NOT EXISTS users (id int);\ncreate or replace view recent as select 1;\n",
     ["table users", "view recent"]),
])
def test_other_languages(suffix: str, source: str, labels: list[str]) -> None:
    assert [label for _, _, label in definitions(source, suffix)] == labels


BODIES = {"total(": "return sum(item.price", "ripen(": "return tomato", "fetch_prices(": "await get"}


def _cut(chunks) -> list[str]:
    """The definitions whose head lies in a passage without their last line, or in two."""
    return [head for head, tail in BODIES.items()
            if any(head in c.text and tail not in c.text for c in chunks) or sum(head in c.text for c in chunks) > 1]


def test_a_definition_that_fits_is_never_cut() -> None:
    sections = [at for at, _, _ in definitions(SHOP, ".py")]
    chunks = chunk_text(SHOP, _words, max_tokens=24, overlap_tokens=6, sections=sections)
    assert _cut(chunks) == [], [c.text for c in chunks]
    assert "".join(SHOP[c.start:c.end] for c in chunks).count("return") == 3  # no line lost, none repeated
    # without sections the same budget cuts through a definition
    assert _cut(chunk_text(SHOP, _words, max_tokens=24, overlap_tokens=6)) != []


def test_code_passages_are_titled_by_their_definition(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "shop.py").write_text(SHOP, encoding="utf-8")
    doc = read_document(SourceFile(tmp_path / "src" / "shop.py", tmp_path / "src"))
    assert doc is not None
    assert passage_title(doc, SHOP.index("return tomato")) == "Shopping helpers for the greengrocer. › def ripen"
    assert passage_title(doc, SHOP.index("return sum")).endswith(" › class Basket › def total")
    index = Index.build([tmp_path / "src"], tmp_path / "idx", embedder=FakeEmbedder(max_seq_length=64))
    hit = index.search("tomatoes sill ripen", k=1, mode="lexical")[0]
    assert hit.text.startswith("@cache\ndef ripen(") and hit.text.endswith("return tomato"), hit.text

"""The documents people have: hard-wrapped text, Markdown with front matter and markup."""

import json
from pathlib import Path

import pytest

from hubsearch import Index, SearchRequest
from hubsearch.indexer.assemble import passage_title
from hubsearch.ingest.chunking import sentence_spans
from hubsearch.ingest.files import SourceFile, read_document

from .conftest import FakeEmbedder

WRAPPED = """Mount Etna is the tallest active volcano in Europe, standing about
3,357 metres tall. It erupts often, and the people who live around
it have learned to farm its fertile slopes for centuries.

- a list item that is short
- another item

Roses are red
Violets are blue
"""

NOTE = """---
title: Growing Tomatoes on a Balcony
date: 2023-05-14
tags: [garden, tomatoes]
rating: 4
---
# Growing tomatoes

Tomatoes like **full sun** and a deep pot. See [the guide](https://example.org/guide).
<!-- remember to buy stakes -->

## Ripening

The first ripe fruit usually shows up in late July. Pick it when it is deep red.
"""


def _sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text, 3000)]


def test_a_soft_line_break_ends_no_sentence() -> None:
    found = _sentences(WRAPPED)
    assert "Mount Etna is the tallest active volcano in Europe, standing about\n3,357 metres tall." in found
    assert "It erupts often, and the people who live around\nit have learned to farm its fertile slopes for " \
           "centuries." in found
    assert "- a list item that is short" in found and "- another item" in found  # list items stay apart
    assert "Roses are red" in found and "Violets are blue" in found  # short lines are not wrapped prose


def test_chinese_sentences_end_at_their_own_marks() -> None:
    assert _sentences("徐汇区是上海的中心城区之一。它有很多人工智能企业！真的吗？") == [
        "徐汇区是上海的中心城区之一。", "它有很多人工智能企业！", "真的吗？"]


def test_a_hard_wrapped_paragraph_is_highlighted_as_whole_sentences(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "etna.txt").write_text(WRAPPED, encoding="utf-8")
    (corpus / "other.txt").write_text("Glaciers carve valleys over many thousands of years.", encoding="utf-8")
    index = Index.build([corpus], tmp_path / "idx", embedder=FakeEmbedder())
    hit = index.search("how tall is Etna in metres 3,357", k=1)[0]
    assert hit.highlight_text == "Mount Etna is the tallest active volcano in Europe, standing about\n3,357 metres tall."
    source = (corpus / "etna.txt").read_text(encoding="utf-8")
    assert source[hit.highlight[0]:hit.highlight[1]] == hit.highlight_text


def test_front_matter_is_metadata_and_markup_is_not_words(tmp_path: Path) -> None:
    corpus = tmp_path / "notes"
    corpus.mkdir()
    (corpus / "tomatoes.md").write_text(NOTE, encoding="utf-8")
    (corpus / "bread.md").write_text("+++\ntitle = \"Sourdough\"\ntags = [\"baking\"]\n+++\n\n# Feeding\n\n"
                                     "Feed the starter twice a day with flour and water.\n", encoding="utf-8")
    index = Index.build([corpus], tmp_path / "idx", embedder=FakeEmbedder())
    sources = {s.doc_id: s for s in index.manifest.sources}
    assert sources["tomatoes"].title == "Growing Tomatoes on a Balcony" and sources["tomatoes"].date == "2023-05-14"
    assert sources["tomatoes"].meta["tags"] == ["garden", "tomatoes"] and sources["tomatoes"].meta["rating"] == 4
    assert sources["bread"].title == "Sourdough" and sources["bread"].meta["tags"] == ["baking"]
    for hit in index.search("tomatoes ripen garden sun", k=10):
        assert "tags:" not in hit.text and "rating" not in hit.text and "---" not in hit.text
        assert "**" not in hit.text and "](" not in hit.text and "<!--" not in hit.text and "#" not in hit.text
        source = (corpus / hit.source).read_text(encoding="utf-8")
        assert len(source[hit.start:hit.end]) == len(hit.text)  # offsets point into the source file
        assert all(a == b for a, b in zip(hit.text, source[hit.start:hit.end]) if not a.isspace())
    ripe = index.search("when does the first ripe fruit show up", k=1)[0]
    assert ripe.doc_id == "tomatoes" and ripe.meta == sources["tomatoes"].meta
    assert ripe.highlight_text == "The first ripe fruit usually shows up in late July."
    printed = index.answer(SearchRequest("first ripe fruit", 1)).to_dict()  # what --json, HTTP and MCP return
    assert printed["results"][0]["meta"]["tags"] == ["garden", "tomatoes"]


def test_a_markdown_passage_is_titled_by_its_headings(tmp_path: Path) -> None:
    (tmp_path / "tomatoes.md").write_text(NOTE, encoding="utf-8")
    doc = read_document(SourceFile(tmp_path / "tomatoes.md", tmp_path))
    assert doc is not None and [h[2] for h in doc.headings] == ["Growing tomatoes", "Ripening"]
    assert passage_title(doc, NOTE.index("The first")) == "Growing Tomatoes on a Balcony › Growing tomatoes › Ripening"
    assert passage_title(doc, NOTE.index("Tomatoes like")) == "Growing Tomatoes on a Balcony › Growing tomatoes"


@pytest.mark.parametrize("broken", ["---\ntitle: [unclosed\n---\nBody text here.\n", "---\n- just\n- a list\n---\nBody.\n"])
def test_front_matter_that_does_not_parse_is_left_out(tmp_path: Path, broken: str) -> None:
    (tmp_path / "odd.md").write_text(broken, encoding="utf-8")
    doc = read_document(SourceFile(tmp_path / "odd.md", tmp_path))
    assert doc is not None and doc.meta == {} and "---" not in doc.text and "Body" in doc.text


def test_skipped_files_are_reported_by_kind_and_ignore_rules_apply(fake, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hubsearch.cli import cli

    corpus = tmp_path / "mixed"
    (corpus / "build").mkdir(parents=True)
    (corpus / "notes.txt").write_text("Plain notes about kites and wind.", encoding="utf-8")
    (corpus / "image.psd").write_bytes(b"8BPS not an image we read")
    (corpus / "report.docx").write_bytes(b"PK\x03\x04 not really a document")  # damaged
    (corpus / "script.xyz").write_text("whatever", encoding="utf-8")
    (corpus / "blob.txt").write_bytes(b"\x00\x01\x02 binary")
    (corpus / "empty.md").write_text("", encoding="utf-8")
    (corpus / "build" / "output.txt").write_text("generated text", encoding="utf-8")
    (corpus / "draft.txt").write_text("a draft to leave out", encoding="utf-8")
    (corpus / ".hubsearchignore").write_text("build/\ndraft.txt\n", encoding="utf-8")
    index_dir = str(tmp_path / "idx")
    built = CliRunner().invoke(cli, ["index", "build", str(corpus), "--index", index_dir])
    assert built.exit_code == 0, built.stderr
    summary = next(line for line in built.stderr.splitlines() if line.startswith("hubsearch: skipped 5:"))
    assert "2 unsupported type (.psd, .xyz)" in summary and "1 empty" in summary and "1 unreadable" in summary
    assert "1 not UTF-8 text" in summary or "1 binary" in summary
    assert "skipped " + str(corpus / "image.psd") not in built.stderr  # unsupported files are only counted
    assert f"skipped {corpus / 'report.docx'}: cannot read the docx file" in built.stderr
    info = json.loads(CliRunner().invoke(cli, ["index", "info", "--index", index_dir, "--json"]).stdout)
    kinds = {Path(s["path"]).name: s["kind"] for s in info["skipped"]}
    assert kinds == {"image.psd": "unsupported", "script.xyz": "unsupported", "blob.txt": kinds["blob.txt"],
                     "empty.md": "empty", "report.docx": "unreadable"}
    text = CliRunner().invoke(cli, ["index", "info", "--index", index_dir]).stdout
    assert "skipped:" in text and "2 unsupported type" in text
    with Index.open(index_dir) as index:
        assert {s.doc_id for s in index.manifest.sources} == {"notes"}  # build/ and draft.txt are ignored
        assert index.changes() == {"new": 0, "changed": 0, "removed": 0}  # nor do they count as new


def test_chinese_words_are_found_by_the_lexical_side(tmp_path: Path) -> None:
    corpus = tmp_path / "zh"
    corpus.mkdir()
    (corpus / "xuhui.txt").write_text("徐汇区是上海的中心城区之一。徐汇区有很多人工智能企业。", encoding="utf-8")
    (corpus / "pudong.txt").write_text("浦东新区有上海的金融中心。陆家嘴在浦东。", encoding="utf-8")
    (corpus / "english.txt").write_text("Xuhui District hosts many AI companies.", encoding="utf-8")
    index = Index.build([corpus], tmp_path / "idx", embedder=FakeEmbedder())
    assert [h.doc_id for h in index.search("徐汇区", k=3, mode="lexical")] == ["xuhui"]
    assert index.search("金融中心在哪里", k=1, mode="lexical")[0].doc_id == "pudong"
    assert index.search("Xuhui District", k=1, mode="lexical")[0].doc_id == "english"
    hit = index.search("人工智能企业", k=1, mode="lexical")[0]
    assert hit.highlight_text == "徐汇区有很多人工智能企业。"  # 。 ends a sentence


def _lists_inline(generation: Path) -> dict:
    """The generation's manifest with its sources and skipped files inside it, where formats
    1 to 3 kept them, and source_files.json removed."""
    data = json.loads((generation / "manifest.json").read_text())
    data.update(json.loads((generation / "source_files.json").read_text()))
    (generation / "source_files.json").unlink()
    del data["files"]["source_files.json"]
    return data


def test_an_index_of_format_1_is_still_read(tmp_path: Path, corpus: Path) -> None:
    from hubsearch.store import manifest as manifest_io

    built = Index.build([corpus], tmp_path / "idx", embedder=FakeEmbedder())
    generation = built.generation
    built.close()
    data = _lists_inline(generation)
    data["format_version"] = 1  # as hubsearch 0.1 wrote it: no meta, no kinds
    for source in data["sources"]:
        del source["meta"]
    for skipped in data["skipped"]:
        del skipped["kind"]
    data["checksum"] = manifest_io.checksum(data)
    (generation / "manifest.json").write_text(json.dumps(data))
    with Index.open(tmp_path / "idx", embedder=FakeEmbedder()) as index:
        assert index.search("apples", k=1)[0].doc_id == "apples"
        assert all(s.meta == {} for s in index.manifest.sources)
        assert {s.kind for s in index.manifest.skipped} == {"unreadable"}


def test_an_index_of_format_2_is_queried_as_built_and_updated_to_the_current_format(tmp_path: Path,
                                                                                    corpus: Path) -> None:
    from hubsearch import update
    from hubsearch.retrieval.lexical import ANALYZER_FILE
    from hubsearch.retrieval.termcounts import COUNT_FILES
    from hubsearch.store import manifest as manifest_io

    built = Index.build([corpus], tmp_path / "idx", embedder=FakeEmbedder())
    generation = built.generation
    built.close()
    data = _lists_inline(generation)
    data["format_version"] = 2  # as hubsearch 0.2 wrote it: BM25 analyser 1, no term counts
    for name in (ANALYZER_FILE, *COUNT_FILES):
        (generation / "lexical" / name).unlink()
        del data["files"][f"lexical/{name}"]
    data["checksum"] = manifest_io.checksum(data)
    (generation / "manifest.json").write_text(json.dumps(data))
    with Index.open(tmp_path / "idx", embedder=FakeEmbedder()) as index:
        assert index.search("apples", k=1, mode="lexical")[0].doc_id == "apples"
    (corpus / "kiwis.txt").write_text("Kiwis ripen in version 1.0.21 of the orchard.", encoding="utf-8")
    report = update(tmp_path / "idx", embedder=FakeEmbedder())
    assert report.new == 1
    with Index.open(tmp_path / "idx", embedder=FakeEmbedder()) as index:
        assert index.manifest.format_version == manifest_io.FORMAT_VERSION == 4
        assert (index.generation / "source_files.json").is_file() and len(index.manifest.sources) == 4
        assert all((index.generation / "lexical" / name).is_file() for name in (ANALYZER_FILE, *COUNT_FILES))
        assert index.search("1.0.21", k=1, mode="lexical")[0].doc_id == "kiwis"
        assert index.search("apples", k=1, mode="lexical")[0].doc_id == "apples"


def _notes(root: Path) -> Path:
    root.mkdir()
    (root / "tomatoes.md").write_text(NOTE, encoding="utf-8")
    (root / "basil.md").write_text("---\ntitle: Basil\ndate: 2024-06-01\ntags: [garden, herbs]\nrating: 5\n---\n\n"
                                   "Basil wants warmth and daily watering in summer.\n", encoding="utf-8")
    (root / "bread.md").write_text("---\ntitle: Sourdough\ntags: recipes\nrating: 3\n---\n\nWater the starter "
                                   "daily: feed it flour and water.\n", encoding="utf-8")
    return root


def test_tag_and_where_filters_apply_before_ranking(tmp_path: Path) -> None:
    from hubsearch import InvalidInputError, SearchConfig
    from hubsearch.settings import Filters

    index = Index.build([_notes(tmp_path / "notes")], tmp_path / "idx", embedder=FakeEmbedder())

    def docs(**filters) -> set[str]:
        return {h.doc_id for h in index.search("watering daily", k=10, config=SearchConfig(filters=Filters(**filters)))}

    assert docs(tags=("garden",)) == {"tomatoes", "basil"}
    assert docs(tags=("garden", "herbs")) == {"basil"}
    assert docs(tags=("GARDEN",)) == {"tomatoes", "basil"}  # tags compare without case
    assert docs(where=("rating>=4",)) == {"tomatoes", "basil"}
    assert docs(where=("rating<4",)) == {"bread"}
    assert docs(where=("date>=2024-01-01",)) == {"basil"}
    assert docs(where=("title=sourdough",)) == {"bread"}
    assert docs(where=("rating!=5",), tags=("garden",)) == {"tomatoes"}
    assert docs(tags=("garden",), doc_ids=("basil", "bread")) == {"basil"}
    with pytest.raises(InvalidInputError, match="no document has tag 'fruit'; tags in this index: garden, herbs, "
                                                "recipes, tomatoes"):
        docs(tags=("fruit",))
    with pytest.raises(InvalidInputError, match="no document matches 'rating>9'; the fields documents declare"):
        docs(where=("rating>9",))
    with pytest.raises(InvalidInputError, match="where needs FIELD=VALUE"):
        Filters(where=("rating",))


def test_tag_and_where_filters_are_the_same_at_every_door(fake, tmp_path: Path) -> None:
    import asyncio

    from click.testing import CliRunner
    from fastapi.testclient import TestClient

    from hubsearch.cli import cli
    from hubsearch.server.http import create_app
    from hubsearch.server.mcp import create_mcp

    index_dir = tmp_path / "idx"
    built = CliRunner().invoke(cli, ["index", "build", str(_notes(tmp_path / "notes")), "--index", str(index_dir)])
    assert built.exit_code == 0, built.stderr
    printed = CliRunner().invoke(cli, ["query", "watering", "--tag", "garden", "--where", "rating>=5", "--json",
                                       "--index", str(index_dir), "--no-stale-check"])
    assert printed.exit_code == 0, printed.stderr
    answer = json.loads(printed.stdout)
    assert {h["doc_id"] for h in answer["results"]} == {"basil"}
    with TestClient(create_app(index_dir), base_url="http://127.0.0.1") as http:
        got = http.get("/search", params=[("q", "watering"), ("tag", "garden"), ("where", "rating>=5")]).json()
        posted = http.post("/search", json={"q": "watering", "tags": ["garden"], "where": ["rating>=5"]}).json()
        missing = http.post("/search", json={"q": "watering", "tags": ["fruit"]})
    via_mcp = asyncio.run(create_mcp(index_dir).call_tool("search", {"query": "watering", "tags": ["garden"],
                                                                     "where": ["rating>=5"]})).structured_content
    assert got == posted == via_mcp == answer
    assert missing.status_code == 422 and missing.json()["error"].startswith("no document has tag 'fruit'")
    refused = CliRunner().invoke(cli, ["query", "watering", "--tag", "fruit", "--index", str(index_dir)])
    assert refused.exit_code == 2 and "tags in this index: garden, herbs, recipes, tomatoes" in refused.stderr


def test_include_and_exclude_choose_the_files_and_are_kept_by_updates(fake, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hubsearch.cli import cli

    corpus = tmp_path / "mixed"
    (corpus / "notes").mkdir(parents=True)
    (corpus / "notes" / "kites.md").write_text("# Kites\n\nKites fly in spring wind.", encoding="utf-8")
    (corpus / "notes" / "draft.md").write_text("# Draft\n\nA draft about kites.", encoding="utf-8")
    (corpus / "readme.txt").write_text("A readme about kites.", encoding="utf-8")
    index_dir = str(tmp_path / "idx")
    built = CliRunner().invoke(cli, ["index", "build", str(corpus), "--index", index_dir, "--include", "*.md",
                                     "--exclude", "draft.md"])
    assert built.exit_code == 0, built.stderr
    with Index.open(index_dir) as index:
        assert {s.doc_id for s in index.manifest.sources} == {"notes/kites"}
        assert index.changes() == {"new": 0, "changed": 0, "removed": 0}  # the others are not news
    (corpus / "notes" / "boats.md").write_text("# Boats\n\nBoats sail in summer wind.", encoding="utf-8")
    (corpus / "other.txt").write_text("Not included.", encoding="utf-8")
    updated = CliRunner().invoke(cli, ["index", "update", "--index", index_dir, "--json"])
    assert updated.exit_code == 0, updated.stderr
    assert json.loads(updated.stdout)["new"] == 1  # boats.md; other.txt stays out
    rebuilt = CliRunner().invoke(cli, ["index", "rebuild", "--index", index_dir])
    assert rebuilt.exit_code == 0, rebuilt.stderr
    with Index.open(index_dir) as index:
        assert {s.doc_id for s in index.manifest.sources} == {"notes/kites", "notes/boats"}
        assert index.manifest.corpus.include == ["*.md"] and index.manifest.corpus.exclude == ["draft.md"]

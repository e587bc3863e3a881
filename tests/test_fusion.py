import pytest

from hubsearch.errors import InvalidInputError
from hubsearch.fusion import FusionConfig, Ranked, fuse


def test_rrf_matches_the_formula() -> None:
    sides = {"dense": Ranked([1, 2, 3], [0.9, 0.8, 0.7]), "lexical": Ranked([3, 1], [12.0, 3.0])}
    out = fuse(sides, FusionConfig(method="rrf", rrf_k=60, alpha=0.5))
    scores = {f.id: f.score for f in out}
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)
    assert [f.id for f in out] == [1, 3, 2]
    assert out[0].parts["lexical"] == {"rank": 2, "score": 3.0, "contribution": pytest.approx(1 / 62)}


def test_weighted_uses_min_max_per_side() -> None:
    sides = {"dense": Ranked([1, 2, 3], [0.9, 0.5, 0.1]), "lexical": Ranked([2, 3], [10.0, 5.0])}
    out = fuse(sides, FusionConfig(method="weighted", alpha=0.25))
    scores = {f.id: f.score for f in out}
    assert scores[1] == pytest.approx(0.25 * 1.0)
    assert scores[2] == pytest.approx(0.25 * 0.5 + 0.75 * 1.0)
    assert scores[3] == pytest.approx(0.0)
    assert out[0].id == 2


@pytest.mark.parametrize("method", ["rrf", "weighted"])
def test_each_sides_first_is_never_lost(method: str) -> None:
    # Passages 10..14 rank 2-6 on both sides; each side's #1 appears on that side only.
    dense = Ranked([1, 10, 11, 12, 13, 14], [1.0, 0.99, 0.98, 0.97, 0.96, 0.0])
    lexical = Ranked([2, 10, 11, 12, 13, 14], [9.0, 8.9, 8.8, 8.7, 8.6, 0.0])
    out = fuse({"dense": dense, "lexical": lexical}, FusionConfig(method=method))
    assert {f.id for f in out[:2]} == {1, 2}
    assert sorted(f.id for f in out) == [1, 2, 10, 11, 12, 13, 14]


def test_alpha_one_follows_dense_order_but_keeps_the_lexical_first() -> None:
    sides = {"dense": Ranked([5, 6, 7, 8], [0.9, 0.8, 0.5, 0.1]), "lexical": Ranked([7, 6, 5], [3.0, 2.0, 1.0])}
    assert [f.id for f in fuse(sides, FusionConfig(method="weighted", alpha=1.0))] == [5, 7, 6, 8]


def test_empty_side_leaves_the_other_order() -> None:
    sides = {"dense": Ranked([4, 2, 9], [0.5, 0.4, 0.3]), "lexical": Ranked([], [])}
    assert [f.id for f in fuse(sides, FusionConfig())] == [4, 2, 9]


@pytest.mark.parametrize("kwargs", [{"method": "max"}, {"alpha": 1.5}, {"rrf_k": -1}, {"depth": 0}])
def test_bad_fusion_settings(kwargs: dict) -> None:
    with pytest.raises(InvalidInputError):
        FusionConfig(**kwargs)

import numpy as np
import pytest

from hubsearch.errors import InvalidInputError
from hubsearch.query.fusion import Fused, FusionConfig, Ranked, fuse, smooth
from hubsearch.retrieval.ranked import SideScore, Smoothed


def test_rrf_matches_the_formula() -> None:
    sides = {"dense": Ranked([1, 2, 3], [0.9, 0.8, 0.7]), "lexical": Ranked([3, 1], [12.0, 3.0])}
    out = fuse(sides, FusionConfig(method="rrf", rrf_k=60, alpha=0.5))
    scores = {f.id: f.score for f in out}
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)
    assert [f.id for f in out] == [1, 3, 2]
    assert out[0].sides["lexical"] == SideScore(rank=2, score=3.0, contribution=pytest.approx(1 / 62))


def test_weighted_uses_min_max_per_side() -> None:
    sides = {"dense": Ranked([1, 2, 3], [0.9, 0.5, 0.1]), "lexical": Ranked([2, 3], [10.0, 5.0])}
    out = fuse(sides, FusionConfig(method="weighted", normalise="minmax", alpha=0.25))
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


@pytest.mark.parametrize("kwargs", [{"method": "max"}, {"alpha": 1.5}, {"rrf_k": -1}, {"rrf_k": 0}, {"depth": 0}])
def test_bad_fusion_settings(kwargs: dict) -> None:
    with pytest.raises(InvalidInputError):
        FusionConfig(**kwargs)


def _unit(*rows: list[float]) -> np.ndarray:
    m = np.asarray(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def _single(ids: list[int], scores: list[float]) -> list[Fused]:
    return [Fused(i, s, {"dense": SideScore(r, s, s)})
            for r, (i, s) in enumerate(zip(ids, scores), start=1)]


def test_smooth_matches_the_formula() -> None:
    # 1 and 2 point the same way, 3 is orthogonal to both; one neighbour each.
    ranked = _single([1, 2, 3], [0.9, 0.5, 0.4])
    vectors = _unit([1, 0], [1, 0.1], [0, 1])
    out = {f.id: f for f in smooth(ranked, vectors, weight=0.2, neighbours=1)}
    assert out[1].score == pytest.approx(0.8 * 0.9 + 0.2 * 0.5)
    assert out[2].score == pytest.approx(0.8 * 0.5 + 0.2 * 0.9)
    # 3's nearest neighbour has similarity 0.0995 (to 2): its mean is 2's score.
    assert out[3].score == pytest.approx(0.8 * 0.4 + 0.2 * 0.5)
    assert out[2].smoothed == Smoothed(before=0.5, neighbours=pytest.approx(0.9), weight=0.2)


def test_smooth_lifts_a_passage_that_sits_in_a_relevant_cluster() -> None:
    # 4 scores a little below lone 3, but its neighbours 1 and 2 score high.
    ranked = _single([1, 2, 3, 4], [1.0, 0.9, 0.6, 0.55])
    vectors = _unit([1, 0, 0], [1, 0.1, 0], [0, 0, 1], [1, 0.2, 0])
    assert [f.id for f in smooth(ranked, vectors, weight=0.2, neighbours=2)] == [1, 2, 4, 3]
    assert [f.id for f in smooth(ranked, vectors, weight=0.0, neighbours=2)] == [1, 2, 3, 4]


def test_smooth_leaves_the_tail_and_lone_candidates_alone() -> None:
    ranked = _single([1, 2, 3, 4], [0.9, 0.8, 0.3, 0.2])
    vectors = _unit([1, 0], [-1, 0])  # only the first two are smoothed; they are opposite
    out = smooth(ranked, vectors, weight=0.5, neighbours=3)
    assert [(f.id, f.score) for f in out] == [(1, 0.9), (2, 0.8), (3, 0.3), (4, 0.2)]


def test_smooth_keeps_each_sides_first_in_hybrid() -> None:
    dense = Ranked([1, 10, 11, 12], [1.0, 0.99, 0.98, 0.97])
    lexical = Ranked([2, 10, 11, 12], [9.0, 8.9, 8.8, 8.7])
    fused = fuse({"dense": dense, "lexical": lexical}, FusionConfig())
    # 10, 11 and 12 are alike and score high on both sides; 1 and 2 stand alone.
    vectors = {1: [0, 1, 0], 2: [0, 0, 1], 10: [1, 0, 0], 11: [1, 0.05, 0], 12: [1, 0, 0.05]}
    out = smooth(fused, _unit(*[vectors[f.id] for f in fused]), weight=1.0, neighbours=2)
    assert {f.id for f in out[:2]} == {1, 2}


def _pass(*scored: tuple[int, float]) -> list[Fused]:
    return [Fused(i, s, {"dense": SideScore(r, s, s)}) for r, (i, s) in enumerate(scored, start=1)]


def test_mix_keeps_the_first_pass_in_the_score() -> None:
    from hubsearch.query.fusion import mix

    first = _pass((1, 1.0), (2, 0.8), (3, 0.2))
    second = _pass((4, 1.0), (2, 0.9), (1, 0.1))
    out = mix(first, second, 0.5)
    scores = {f.id: f.score for f in out}
    assert scores == pytest.approx({1: 0.55, 2: 0.85, 3: 0.1, 4: 0.5})
    assert [f.id for f in out] == [2, 1, 4, 3]
    only_first = next(f for f in out if f.id == 3)
    assert (only_first.mixed.first, only_first.mixed.second, only_first.mixed.share) == (0.2, None, 0.5)
    assert only_first.sides["dense"].rank == 3  # the first pass's detail, as no later pass saw it
    assert next(f for f in out if f.id == 1).sides["dense"].rank == 3  # the second pass's detail
    # Replacing the first pass altogether, as feedback did before mixing:
    assert mix(first, second, 1.0) == second


def test_mix_counts_a_missing_candidate_at_that_pass_lowest_score() -> None:
    from hubsearch.query.fusion import mix

    # z-scored passes: 0 is an average candidate, so a missing one must not count as 0.
    first = _pass((1, 1.5), (2, -0.5), (3, -1.0))
    second = _pass((2, 1.2), (4, -2.0))
    scores = {f.id: f.score for f in mix(first, second, 0.5)}
    assert scores == pytest.approx({1: 0.5 * 1.5 + 0.5 * -2.0, 2: 0.5 * -0.5 + 0.5 * 1.2,
                                    3: 0.5 * -1.0 + 0.5 * -2.0, 4: 0.5 * -1.0 + 0.5 * -2.0})


def test_feedback_mix_must_leave_some_second_pass() -> None:
    from hubsearch.settings import FeedbackConfig

    with pytest.raises(InvalidInputError, match="feedback mix"):
        FeedbackConfig(mix=0.0)
    with pytest.raises(InvalidInputError, match="feedback mix"):
        FeedbackConfig(mix=1.5)


def test_weighted_uses_z_scores_by_default() -> None:
    dense = [0.9, 0.5, 0.1]
    sides = {"dense": Ranked([1, 2, 3], dense), "lexical": Ranked([2, 3], [10.0, 5.0])}
    out = fuse(sides, FusionConfig(method="weighted", alpha=0.25))
    z = (np.array(dense) - np.mean(dense)) / np.std(dense)
    scores = {f.id: f.score for f in out}
    # Lexical z-scores of two candidates are +1 and -1; passage 1, missing there, gets the
    # side's lowest value, -1.
    assert scores[1] == pytest.approx(0.25 * z[0] + 0.75 * -1.0)
    assert scores[2] == pytest.approx(0.25 * z[1] + 0.75 * 1.0)
    assert scores[3] == pytest.approx(0.25 * z[2] + 0.75 * -1.0)
    assert [f.id for f in out] == [2, 1, 3]


def test_a_side_with_one_candidate_still_counts_under_z_scores() -> None:
    # One BM25 match (a rare name, say): its z-score is undefined; it gets 1, the passages
    # BM25 did not return get 0, so the exact match keeps its lexical credit.
    sides = {"dense": Ranked([1, 2, 3], [0.9, 0.5, 0.1]), "lexical": Ranked([3], [7.0])}
    out = fuse(sides, FusionConfig(method="weighted", alpha=0.5))
    third = next(f for f in out if f.id == 3)
    assert third.sides["lexical"].contribution == pytest.approx(0.5)
    assert next(f for f in out if f.id == 2).sides["lexical"].contribution == 0.0


def test_unknown_normalisation_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="choose zscore or minmax"):
        FusionConfig(normalise="rank")

"""The ranking as columns: records are built only when read, and say what a list would."""

import numpy as np
import pytest

from hubsearch.query.fusion import FusionConfig, Ranked, fuse, mix, smooth
from hubsearch.retrieval.ranked import Fused, Mixed, Ranking, SideScore, Smoothed


def _records() -> list[Fused]:
    return [
        Fused(7, 1.5, {"dense": SideScore(1, 0.9, 1.0), "lexical": SideScore(None, None, -0.5)},
              Smoothed(1.4, 1.9, 0.2)),
        Fused(3, 0.5, {"dense": SideScore(2, 0.7, 0.25), "lexical": SideScore(1, 12.0, 0.25)}, None,
              Mixed(0.4, None, 0.5)),
        Fused(9, -0.25, {"dense": SideScore(None, None, -1.0), "lexical": SideScore(2, 3.0, 0.75)}),
    ]


def test_records_come_back_as_they_went_in() -> None:
    records = _records()
    ranking = Ranking.of(records)
    assert list(ranking) == records and ranking == records
    assert ranking[-1] == records[-1] and ranking[1].mixed == Mixed(0.4, None, 0.5)
    assert ranking[0].smoothed == Smoothed(1.4, 1.9, 0.2) and ranking[2].smoothed is None
    assert ranking.ids.tolist() == [7, 3, 9] and Ranking.of(ranking) is ranking
    with pytest.raises(IndexError):
        ranking[3]


def test_a_slice_is_a_ranking_of_those_candidates() -> None:
    records = _records()
    head = Ranking.of(records)[:2]
    assert isinstance(head, Ranking) and list(head) == records[:2]
    assert list(Ranking.of(records)[1:]) == records[1:] and len(Ranking.of(records)[5:]) == 0
    assert list(Ranking.of(records).take([2, 0])) == [records[2], records[0]]


def test_fused_records_hold_each_sides_rank_score_and_contribution() -> None:
    sides = {"dense": Ranked([4, 2], [0.9, 0.8]), "lexical": Ranked([2, 8], [5.0, 1.0])}
    out = fuse(sides, FusionConfig(method="rrf", rrf_k=60, alpha=0.5))
    by_id = {f.id: f for f in out}
    assert by_id[8].sides["dense"] == SideScore(None, None, 0.0)
    assert by_id[2].sides["lexical"] == SideScore(1, 5.0, pytest.approx(1 / 61))
    assert by_id[2].score == pytest.approx(1 / 62 + 1 / 61) and by_id[2].smoothed is None


def test_smoothing_and_mixing_keep_the_columns_of_every_candidate() -> None:
    sides = {"dense": Ranked([1, 2, 3, 4], [0.9, 0.8, 0.7, 0.1]), "lexical": Ranked([2, 1], [3.0, 2.0])}
    fused = fuse(sides, FusionConfig(method="weighted"))
    vectors = np.eye(4, dtype=np.float32)[:3]  # only the first three are smoothed
    out = smooth(fused, vectors, weight=0.5, neighbours=2)
    assert sorted(out.ids.tolist()) == [1, 2, 3, 4]
    smoothed = {f.id: f.smoothed for f in out}
    assert smoothed[fused[3].id] is None and all(smoothed[f.id] for f in list(fused)[:3])
    for f in out:  # the sides travel with their candidate
        assert f.sides == next(g.sides for g in fused if g.id == f.id)
    mixed = mix(out, fuse(sides, FusionConfig()), 0.5)
    assert {f.id for f in mixed} == {1, 2, 3, 4} and all(f.mixed is not None for f in mixed)

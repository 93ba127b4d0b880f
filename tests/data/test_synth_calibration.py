"""The synthetic generator is held to the real data: at the preset the size of ml-latest-small,
the build's own protocol (build/calibration.py: the loader, `evaluation_data`,
`evaluate_model`) gives popularity, item-kNN and EASE an NDCG@10 within 25% of what it gives
them on the embedded real file, in the same order, and ranks the rating models as on real data.
(The order's worth to the hybrid, build/calibration.py's sequence_gain, is not calibrated yet: docs/data.md.)

Both sides are measured here, in this run, with the same code and settings: nothing is copied
from a previous run. The generator's parameters were tuned on the generator side (SynthSettings
defaults), never by changing the protocol.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from latentlens.build.calibration import RATING_MODELS, TOPN_MODELS, protocol_scores
from latentlens.build.data.synth import SynthSettings, write_synthetic
from latentlens.build.settings import EvaluationSettings

pytestmark = pytest.mark.build

EMBEDDED = Path(__file__).resolve().parents[2] / "data" / "ml-latest-small"
# The build's protocol except 3 CV folds instead of 5 (on both sides), to keep the suite fast.
PROTOCOL = EvaluationSettings(folds=3)
TIE = 0.005  # RMSE gaps below this are ties (a 3-fold CV's spread on 100k ratings is ~0.003)


@pytest.fixture(scope="module")
def scores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, float]]]:
    out = tmp_path_factory.mktemp("calibration") / "synth-small"
    write_synthetic(out, SynthSettings.preset("small"))
    return {name: protocol_scores(path, TOPN_MODELS + RATING_MODELS, evaluation=PROTOCOL)
            for name, path in (("real", EMBEDDED), ("synth", out))}


def test_topn_models_land_within_a_quarter_of_their_real_ndcg(scores) -> None:
    real, synth = scores["real"], scores["synth"]
    for name in TOPN_MODELS:
        r, s = real[name]["ndcg_at_10"], synth[name]["ndcg_at_10"]
        assert abs(s - r) <= 0.25 * r, f"{name}: synthetic NDCG@10 {s:.4f} vs real {r:.4f}"


def test_topn_models_rank_as_on_real_data(scores) -> None:
    def order(side: dict) -> list[str]:
        return sorted(TOPN_MODELS, key=lambda name: side[name]["ndcg_at_10"])

    assert order(scores["synth"]) == order(scores["real"]) == ["popularity", "itemknn", "ease"]


def test_rating_models_rank_as_on_real_data(scores) -> None:
    """kNN-baseline beats the bias baseline and MF on both sides, clearly. Whether MF beats the
    bias baseline by more than TIE must be the same on both sides: at this size it does not on
    the real file (too few ratings per movie), so it must not here either; at scale it does
    (docs/performance.md, the build at scale)."""
    rmse = {side: {n: scores[side][n]["rmse"] for n in RATING_MODELS} for side in scores}
    for side in ("real", "synth"):
        r = rmse[side]
        assert r["knn_baseline"] < min(r["baseline"], r["biased_mf"]) - TIE, (side, r)
        assert 0.75 < r["baseline"] < 1.0, (side, r)
    mf_wins = {side: rmse[side]["biased_mf"] < rmse[side]["baseline"] - TIE for side in rmse}
    assert mf_wins["real"] == mf_wins["synth"], rmse


"""The build's own split of a data directory, for bench scripts that score models outside a build: the data,
its interactions, the evaluation settings the scale plan gives it and the protocols' splits."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latentlens.build.data.loader import load_movielens
from latentlens.build.data.tables import MovieLensData
from latentlens.build.evaluate.protocol import EvaluationData, evaluation_data
from latentlens.build.interactions import Interactions, to_interactions
from latentlens.build.scale import ScalePlan, choose_scale, plan_for
from latentlens.build.settings import EvaluationSettings


@dataclass(frozen=True)
class BuildSplit:
    data: MovieLensData
    full: Interactions
    plan: ScalePlan
    evaluation: EvaluationSettings
    split: EvaluationData


def build_split(data_dir: Path, seed: int) -> BuildSplit:
    """What `latentlens build --seed SEED` evaluates on: the auto scale plan's protocol and the seed's splits."""
    data = load_movielens(data_dir)
    full = to_interactions(data)
    plan = plan_for(choose_scale("auto", full.n_ratings))
    evaluation = plan.apply(EvaluationSettings())
    return BuildSplit(data, full, plan, evaluation, evaluation_data(full, evaluation, seed))

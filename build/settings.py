"""Typed settings of one build, made once by the CLI (or a test) and passed down explicitly."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

DEFAULT_MLFLOW_DB = Path("artifacts/mlflow.db")

# The evaluation plans of build/scale.py; here, below both the plans and the model registry that sizes by them.
Scale = Literal["small", "large"]


def default_tracking_uri(cli_value: str | None = None) -> str:
    """--mlflow-uri, else $MLFLOW_TRACKING_URI, else a sqlite store under artifacts/ (absolute)."""
    if cli_value:
        return cli_value
    if env := os.environ.get("MLFLOW_TRACKING_URI"):
        return env
    return f"sqlite:///{DEFAULT_MLFLOW_DB.resolve()}"


class SettingsError(ValueError):
    """A build setting that cannot work (an unknown model, a pin the build cannot honour): the CLI
    prints it and exits 2 before anything is trained or written."""


@dataclass(frozen=True)
class EvaluationSettings:
    """The evaluation protocol shared by every model in a build."""

    folds: int = 5                    # k of the rating cross-validation
    test_fraction: float = 0.2        # last share of each user's ratings held out for top-N
    relevance_threshold: float = 4.0  # held-out ratings at least this are relevant
    k: int = 10                       # cut-off of the ranking metrics
    # At ML-25M scale: top-N metrics on a uniform sample of the held-out users, and the rating
    # cross-validation on a uniform sample of ratings. None = everything. Both are logged.
    max_eval_users: int | None = 20_000
    cv_max_ratings: int | None = None
    # Large plan: instead of k-fold CV, one rating holdout of this share of the ratings of this
    # many sampled users (build/evaluate/protocol.py). None = k-fold CV.
    rating_holdout_users: int | None = None
    rating_holdout_fraction: float = 0.1
    # Fields the user set on the command line: a scale plan (build/scale.py) leaves them alone.
    explicit: frozenset[str] = frozenset()


@dataclass(frozen=True)
class BuildSettings:
    data_dir: Path = Path("data/ml-latest-small")
    out: Path = Path("artifacts/latentlens.duckdb")
    force: bool = False                     # replace --out even when it is not a LatentLens artifact
    mlflow_uri: str = field(default_factory=default_tracking_uri)
    experiment: str = "latentlens"
    models: tuple[str, ...] | None = None   # None = every registered model
    quick: bool = False                     # small model settings: tests and smoke runs
    scale: Literal["auto", "small", "large"] = "auto"  # see build/scale.py
    seed: int = 42
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    top_n: int = 100                        # recommendations stored per user
    similar_n: int = 50                     # similar movies stored per movie
    popular_n: int = 100                    # entries per popular list
    min_cf_ratings: int = 5                 # below this a movie's similar list is content-based
    keep_last_duplicate: bool = False
    threads: int = 2                        # threads of model fits and of ranking (evaluation and export)
    register_model: bool = True
    registered_model_name: str = "latentlens-rating"
    registered_topn_name: str = "latentlens-topn"
    # Ship these models whatever the comparison says (it is still run and logged): a release can keep
    # the model its users know, or a benchmark can price an expensive champion. None = the metric's best.
    topn_champion: str | None = None
    rating_champion: str | None = None

    @classmethod
    def from_cli(cls, args: argparse.Namespace) -> BuildSettings:
        models = tuple(m.strip() for m in args.models.split(",") if m.strip()) if args.models else None
        return cls(
            data_dir=Path(args.data),
            out=Path(args.out),
            force=getattr(args, "force", False),
            mlflow_uri=default_tracking_uri(args.mlflow_uri),
            experiment=args.experiment,
            models=models,
            quick=args.quick,
            seed=args.seed,
            scale=args.scale,
            evaluation=_evaluation_from_cli(args),
            top_n=args.top_n,
            similar_n=args.similar_n,
            keep_last_duplicate=args.keep_last_duplicate,
            register_model=not args.no_register,
            topn_champion=args.topn_champion,
            rating_champion=args.rating_champion,
        )


def _evaluation_from_cli(args: argparse.Namespace) -> EvaluationSettings:
    """Flags left at None keep the defaults (and the scale plan may change them); 0 means all."""
    given = {"folds": args.folds, "max_eval_users": args.eval_users, "cv_max_ratings": args.cv_max_ratings}
    given = {k: v for k, v in given.items() if v is not None}
    values: dict[str, Any] = {k: (v or None) if k != "folds" else v for k, v in given.items()}
    return EvaluationSettings(**values, explicit=frozenset(given))

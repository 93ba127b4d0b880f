"""Typed settings of one build, made once by the CLI (or a test, or `latentlens.run_build`) and passed down
explicitly. Their field defaults are the only place a default is written: the CLI reads its own from them."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from latentlens.handler.schema import DEFAULT_ARTIFACT

# MLflow's own default (`mlflow ui` and `mlflow server` with no store open ./mlflow.db): started from the same
# folder, the build and a plain `mlflow ui` find the same runs. Run artifacts go to ./mlruns beside it.
DEFAULT_MLFLOW_DB = Path("mlflow.db")

# The evaluation plans of build/scale.py; here, below both the plans and the model registry that sizes by them.
Scale = Literal["small", "large"]
ScaleChoice = Literal["auto", "small", "large"]  # what a build asks for: auto picks by the size of the data
# Where a build runs: this process (numpy/scipy) or Apache Spark (build/engines/spark/); the first is the default.
Engine = Literal["inprocess", "spark"]
LogModels = Literal["all", "champions"]  # --log-models
DEFAULT_ENGINE: Engine = "inprocess"

# MLflow's store schemes (plus its http(s) tracking servers): any other one fails before the data is read.
TRACKING_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "file", "databricks")


def default_tracking_uri(cli_value: str | None = None) -> str:
    """--mlflow-uri, else $MLFLOW_TRACKING_URI, else ./mlflow.db, MLflow's own default (absolute)."""
    if cli_value:
        return cli_value
    if env := os.environ.get("MLFLOW_TRACKING_URI"):
        return env
    return f"sqlite:///{DEFAULT_MLFLOW_DB.resolve()}"


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal: the default of every `progress` setting (bars for people, not for logs)."""
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


class SettingsError(ValueError):
    """A build setting that cannot work (an unknown model, a pin the build cannot honour): the CLI
    prints it and exits 2 before anything is trained or written."""


def check_tracking_uri(uri: str) -> None:
    """An MLflow URI with a scheme MLflow has no store for fails here, not after loading the data."""
    scheme = uri.split("://", 1)[0].split("+", 1)[0].lower() if "://" in uri else ""
    if scheme and scheme not in TRACKING_SCHEMES:
        raise SettingsError(f"--mlflow-uri {uri}: no MLflow store for scheme {scheme!r} "
                            "(e.g. sqlite:///mlflow.db or http://127.0.0.1:5000)")


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
    out: Path = Path(DEFAULT_ARTIFACT)      # where `latentlens serve` and the handler look by default
    force: bool = False                     # replace --out even when it is not a LatentLens artifact (never an input)
    mlflow_uri: str = field(default_factory=default_tracking_uri)
    # a tracking server must answer within this, checked before the data is read (build/tracking/preflight.py);
    # every MLflow request of the build is held to it too (build/tracking/limits.py)
    mlflow_timeout_s: float = 30.0
    experiment: str = "latentlens"
    models: tuple[str, ...] | None = None   # None = every registered model
    quick: bool = False                     # small model settings: tests and smoke runs
    scale: ScaleChoice = "auto"             # see build/scale.py
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
    progress: bool = field(default_factory=stderr_is_terminal)  # progress bars on stderr (--progress/--no-progress)
    # Which models' runs keep a loadable MLflow model: every evaluated one, or the champions only. None = the scale
    # plan's: all on the small plan, champions on the large (docs/build.md has the disk cost of each).
    log_models: LogModels | None = None
    # A/B: this top-N model is evaluated like any other and its final lists exported beside the champion's
    # (challenger_recommendations); the champion's own name gives an A/A test. None = no challenger.
    challenger: str | None = None
    # Learn from people: the rating events of this store (a SQLite file `serve --events` wrote, or
    # dynamodb://TABLE) are folded into the ratings (build/stages/events.py). None = the ratings file only.
    events: str | None = None

    def named_models(self) -> tuple[str, ...]:
        """The models the user named (`--models`, then `--challenger`): a scale plan never skips those."""
        return tuple(dict.fromkeys([*(self.models or ()), *([self.challenger] if self.challenger else [])]))

    def model_names(self) -> tuple[str, ...] | None:
        """The models to evaluate: `--models` plus the challenger (evaluated as any model); None = every one."""
        return None if self.models is None else self.named_models()

    def models_logged(self, scale: str) -> LogModels:
        return self.log_models or ("all" if scale == "small" else "champions")

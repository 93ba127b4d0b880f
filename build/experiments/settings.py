"""Typed settings of `latentlens experiment report` and `latentlens experiment simulate`. Standard library only:
the command line reads its defaults from these classes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from latentlens.build.settings import BuildSettings

DEFAULT_SHARE = 0.5  # the challenger's share of people: the handler's Experiment default too (checked by a test)


@dataclass(frozen=True)
class ReportSettings:
    """Which store, which experiment, and the split it was configured with (the API's LATENTLENS_EXPERIMENT,
    LATENTLENS_EXPERIMENT_SHARE and LATENTLENS_EXPERIMENT_SALT): the report recomputes every person's arm from
    them, so they must be the ones the API ran with."""

    events: str                  # the event store: a file path (SQLite) or dynamodb://TABLE
    experiment: str
    share: float = DEFAULT_SHARE
    salt: str = ""
    plot: Path | None = None     # also write the report as a PNG here
    bootstrap_resamples: int = 1000
    bootstrap_seed: int = 0      # the bootstrap's generator: the same store gives the same report


@dataclass(frozen=True)
class SimulateSettings:
    """`latentlens experiment simulate`: which data, which two models, how many seeds (a seed is the experiment's
    salt: one build serves every seed, each seed a new split of the same people)."""

    data_dir: Path = BuildSettings.data_dir
    champion: str | None = None      # pin the champion's model (None: the build's choice by NDCG@10)
    challenger: str = "popularity"   # the champion's own model: two identical arms, an A/A test
    models: tuple[str, ...] | None = None  # the build's --models (None: every model; the challenger always)
    seeds: int = 5
    first_seed: int = 0
    share: float = DEFAULT_SHARE
    work_dir: Path | None = None     # keep the split, the artifact and the event stores here (None: a temporary
                                     # directory, removed at the end)

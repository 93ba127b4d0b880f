"""What an engine supplies to the one pipeline (build/pipeline.py): only what differs between engines.

The pipeline owns the stages' order, the protocol's record (one evaluation.json shape, one comparison
table), the champion rule, the build info and every tracker call about the build as a whole. An engine
says how ratings are held and split, how a model is fit and scored, how the finals are refit and how
the tables are written: numpy/scipy in this process (build/engines/inprocess.py) or Apache Spark
(build/engines/spark/engine.py).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from latentlens.build.build_info import BuildInfo, DatasetFacts
    from latentlens.build.export.artifact import ArtifactReport
    from latentlens.build.models import registry
    from latentlens.build.settings import BuildSettings, EvaluationSettings, Scale
    from latentlens.build.stages.champions import Champions
    from latentlens.build.stages.evaluate import Comparison, ModelEvaluation
    from latentlens.build.tracking.tracker import Tracker

FinalsT = TypeVar("FinalsT")


@dataclass(frozen=True)
class Output:
    """What an engine's export wrote."""

    artifact: ArtifactReport | None   # None: past the DuckDB budget (the Spark engine's Parquet output only)
    registered: str | None = None      # "name vN, name vM (@champion)", None when nothing was registered
    parquet: Path | None = None        # the Spark engine's sharded Parquet output
    manifest: dict | None = None       # its manifest (row counts, shards)


class EngineRun(Protocol[FinalsT]):
    """One build on one engine, from the data read and split to the tables written.

    `FinalsT` is whatever the engine's retrain returns (fitted models, Spark ALS models): the
    pipeline passes it from `retrain` to `export` without looking inside.
    """

    engine: registry.Engine
    dataset: DatasetFacts            # what was read, for build_info and the run's tags
    scale: Scale                     # the scale plan chosen for this data
    evaluation: EvaluationSettings   # the settings' protocol with the scale plan applied
    caption: str                     # the protocols, as the comparison table's caption says them
    sampled: dict[str, int]          # what the protocol sampled, by name: logged as sampled_<name>
    skipped: dict[str, str]          # asked-for models this engine does not run, with the reason

    def record_context(self, tracker: Tracker) -> None:
        """The engine's own params, tags and inputs beside the ones every build logs."""

    def evaluate(self, spec: registry.ModelSpec, tracker: Tracker) -> ModelEvaluation:
        """One model under the protocols its spec asks for, inside its own tracked run."""

    def retrain(self, comparison: Comparison, champions: Champions, tracker: Tracker) -> FinalsT:
        """The champions and the models the export needs by role, refit on every rating."""

    def export(self, comparison: Comparison, finals: FinalsT, info: BuildInfo, tracker: Tracker) -> Output:
        """The artifact's tables from the finals, written and verified (and the champions registered)."""


class Engine(Protocol):
    """How a build runs: `latentlens build --engine NAME`."""

    name: registry.Engine

    def selection(self, settings: BuildSettings) -> registry.Selection:
        """The asked-for models this engine runs (plus what its export needs), the others skipped."""

    def open(self, settings: BuildSettings, chosen: registry.Selection) -> AbstractContextManager[EngineRun]:
        """Read and split the data; the run's resources (a Spark session's caches, scratch folders)
        live until the block ends."""

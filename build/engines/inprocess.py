"""The default engine: numpy/scipy in this process, through the stages of build/stages/.

It holds the ratings as Interactions (dense indices, CSR matrices), fits the registry's models
(`ModelSpec.make`), and writes the artifact with DuckDB. Its FitCache lives exactly as long as one
run: the hybrid's components and the export's models are the very fits the evaluation made.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from latentlens.build.build_info import BuildInfo, DatasetFacts
from latentlens.build.engines.engine import Output
from latentlens.build.models import registry
from latentlens.build.models.fit_cache import FitCache
from latentlens.build.settings import BuildSettings, EvaluationSettings, Scale
from latentlens.build.stages.champions import Champions
from latentlens.build.stages.evaluate import Comparison, ModelEvaluation, evaluate_spec
from latentlens.build.stages.export import artifact_tables, log_champion_models, publish
from latentlens.build.stages.prepare import Prepared, check_challenger, prepare, record_inputs
from latentlens.build.stages.retrain import Finals, retrain
from latentlens.build.tracking.tracker import Tracker


@dataclass
class InProcessRun:
    """One in-process build: the prepared data and splits, and the fits shared while it runs."""

    prepared: Prepared
    fits: FitCache = field(default_factory=FitCache)
    engine: registry.Engine = registry.INPROCESS

    def __post_init__(self) -> None:
        self.inputs = self.prepared.model_inputs(self.fits)
        self.dataset: DatasetFacts = self.prepared.dataset()
        self.scale: Scale = self.prepared.plan.scale
        self.evaluation: EvaluationSettings = self.prepared.evaluation
        self.caption: str = self.prepared.split.caption()
        self.sampled: dict[str, int] = self.prepared.split.sampled
        self.skipped: dict[str, str] = self.prepared.skipped

    def record_context(self, tracker: Tracker) -> None:
        record_inputs(self.prepared, tracker)

    def evaluate(self, spec: registry.ModelSpec, tracker: Tracker) -> ModelEvaluation:
        return evaluate_spec(self.prepared, self.inputs, spec, tracker)

    def retrain(self, comparison: Comparison, champions: Champions, tracker: Tracker) -> Finals:
        return retrain(self.prepared, self.inputs, comparison, champions, tracker)

    def export(self, comparison: Comparison, finals: Finals, info: BuildInfo, tracker: Tracker) -> Output:
        logged = log_champion_models(self.prepared, comparison, finals, tracker)
        tables = artifact_tables(self.prepared, comparison, finals, info, tracker)
        published = publish(self.prepared, tables, logged, tracker)
        return Output(published.artifact, published.registered)


class InProcessEngine:
    name: registry.Engine = registry.INPROCESS

    def selection(self, settings: BuildSettings) -> registry.Selection:
        check_challenger(settings, self.name)
        return registry.selection(settings.model_names(), self.name)

    @contextmanager
    def open(self, settings: BuildSettings, chosen: registry.Selection) -> Iterator[InProcessRun]:
        yield InProcessRun(prepare(settings, chosen))

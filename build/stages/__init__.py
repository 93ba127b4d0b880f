"""The build's stages, in order; each a plain function with typed inputs and outputs, tracked by a Tracker.

    prepare(settings) -> Prepared                                  read and check the data, split it
    evaluate(prepared, tracker) -> Comparison                       every model on the same splits
    choose_champions(evaluations, settings) -> Champions            the metric's best, or the pins
    retrain(prepared, comparison, champions, tracker) -> Finals     champions and export roles on all data
    artifact_tables(...) -> ArtifactTables, publish(...) -> Published   the artifact, then the registry

build/pipeline.py chains them; none imports mlflow.
"""

"""The in-process engine's stages, in order; each a plain function with typed inputs and outputs.

    prepare(settings, chosen) -> Prepared                              read and check the data, split it
    evaluate_spec(prepared, inputs, spec, tracker) -> ModelEvaluation  one model on the shared splits
    choose_champions(evaluations, settings) -> Champions               the metric's best, or the pins
    retrain(prepared, inputs, comparison, champions, tracker) -> Finals   champions and export roles on all data
    artifact_tables(...) -> ArtifactTables, publish(...) -> Published  the artifact, then the registry

build/pipeline.py runs them in that order on any engine (build/engines/); none imports mlflow.
"""

"""MLflow 3.17's UI in a real Chromium over the suite's real build: the URL `latentlens mlflow-ui` prints opens the
machine-learning view, and after the one click docs/build.md asks for ("Model training" in the switch at the top
left, on a run's page) runs' pages stay in it too (MLflow keeps that choice in the browser's storage)."""

from __future__ import annotations

from latentlens.cli.mlflow_ui import experiment_url
from tests.test_mlflow_ui import _kill_tree, _start_ui

# Sidebar entries only one of MLflow's two views shows.
MACHINE_LEARNING_ONLY = "Model registry"
GENAI_ONLY = "Judges"


def sidebar_view(page) -> str:
    page.get_by_text("Model training", exact=True).first.wait_for(timeout=60_000)
    nav = page.inner_text("body")
    ml, genai = MACHINE_LEARNING_ONLY in nav, GENAI_ONLY in nav
    assert ml != genai, f"neither or both views in the sidebar: {nav[:400]!r}"
    return "machine_learning" if ml else "genai"


def test_the_printed_url_and_a_runs_page_stay_in_the_machine_learning_view(embedded_build, chromium) -> None:
    from mlflow.tracking import MlflowClient

    settings, result = embedded_build
    experiment_id = MlflowClient(settings.mlflow_uri).get_experiment_by_name(settings.experiment).experiment_id
    proc, base = _start_ui(settings.mlflow_uri)
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(experiment_url(base, experiment_id))
        assert sidebar_view(page) == "machine_learning"
        run_page = f"{base}/#/experiments/{experiment_id}/runs/{result.run_id}"  # as a click in the runs table
        page.goto(run_page)
        page.get_by_text(result.run_id).first.wait_for(timeout=60_000)
        page.get_by_text("Model training", exact=True).first.click()  # the documented one-time click
        page.wait_for_url("**/runs?*workflowType=machine_learning*")  # MLflow goes back to the runs table
        page.goto(run_page)
        page.get_by_text(result.run_id).first.wait_for(timeout=60_000)
        assert sidebar_view(page) == "machine_learning"
        page.reload()  # a new visit to the run: the choice is the browser's, not the URL's
        page.get_by_text(result.run_id).first.wait_for(timeout=60_000)
        assert sidebar_view(page) == "machine_learning"
    finally:
        context.close()
        _kill_tree(proc)

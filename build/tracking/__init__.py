"""MLflow: runs, params, metrics, plots and the registered rating model."""

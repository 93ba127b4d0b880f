"""MLflow: runs, params, metrics, plots and the registered rating model."""

CHAMPION_ALIAS = "champion"  # the registry alias naming the version behind the published artifact

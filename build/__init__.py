"""LatentLens offline build: load MovieLens, train and evaluate every model, export one DuckDB file."""

__version__ = "0.1.0"

"""LatentLens offline build: load MovieLens, train and evaluate every model, export one DuckDB file."""

from latentlens._version import __version__

__all__ = ["__version__"]

"""LatentLens: a MovieLens recommender built offline into one DuckDB file and served by a small API.

The installed import names all live under this package, so installing LatentLens never shadows
another distribution's top-level modules (PyPA's `build`, say):

- `latentlens.build`: the offline pipeline (load, train, evaluate, track in MLflow, export);
- `latentlens.handler`: the FastAPI/Mangum lookup API over the exported file (the Lambda entry is
  `latentlens.handler.app.handler`).

In the repository they are the top-level folders `build/` and `handler/`; `latentlens/build` and
`latentlens/handler` are symlinks to them, which the wheel and the Lambda package follow. This
module stays import-light (standard library only): the Lambda imports it on every cold start.
"""

__version__ = "0.1.0"  # the one version: pyproject.toml reads it (tool.hatch.version)

"""LatentLens: a MovieLens recommender built offline into one DuckDB file and served by a small API.

The installed import names all live under this package, so installing LatentLens never shadows
another distribution's top-level modules (PyPA's `build`, say):

- `latentlens.build`: the offline pipeline (load, train, evaluate, track in MLflow, export);
- `latentlens.handler`: the FastAPI/Mangum lookup API over the exported file (the Lambda entry is
  `latentlens.handler.app.handler`).

In the repository they are the top-level folders `build/` and `handler/`; `latentlens/build` and
`latentlens/handler` are symlinks to them, which the wheel and the Lambda package follow.

The Python API (docs/python-api.md):

- `latentlens.open(path | "s3://bucket/key" | "dynamodb://NAME")` -> a `Lens`: recommend, similar,
  for_ratings, liked, search, popular, genres, movie, info, sql; the same answers as the HTTP API;
- `latentlens.run_build(settings, **fields)` -> the BuildResult of a build run from code (not
  `latentlens.build(...)`: that name is the pipeline's subpackage);
- `latentlens.load_model("models:/latentlens-topn@champion")` -> a registered champion with
  `recommend(user_ids, n)` (top-N) or `predict(pairs)` (rating).

This module stays import-light (standard library only): the Lambda imports it on every cold start.
The API is resolved on first use (PEP 562), so `import latentlens` loads nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# public name -> (module, attribute), imported on first access. The version lives in a leaf module
# (latentlens/_version.py, which pyproject.toml reads too) that the build imports without importing
# this face; the Lambda package holds only this file and the handler, and never asks for it.
_LAZY = {
    "__version__": ("latentlens._version", "__version__"),
    "open": ("latentlens.lens", "open"),
    "Lens": ("latentlens.lens", "Lens"),
    "NotFound": ("latentlens.handler.answers", "NotFound"),
    "InvalidParameter": ("latentlens.handler.answers", "InvalidParameter"),
    "ArtifactUnavailable": ("latentlens.handler.artifact", "ArtifactUnavailable"),
    "LensClosed": ("latentlens.lens", "LensClosed"),
    "run_build": ("latentlens.runner", "run_build"),
    "BuildSettings": ("latentlens.build.settings", "BuildSettings"),
    "EvaluationSettings": ("latentlens.build.settings", "EvaluationSettings"),
    "load_model": ("latentlens.registered", "load_model"),
    "RegisteredModel": ("latentlens.registered", "RegisteredModel"),
}
_SUBPACKAGES = ("build", "handler")

__all__ = [*_LAZY]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ below imports on demand
    # `X as X` marks an explicit re-export: linters and type checkers do not read __all__ built from _LAZY
    from latentlens._version import __version__ as __version__
    from latentlens.build.settings import BuildSettings as BuildSettings
    from latentlens.build.settings import EvaluationSettings as EvaluationSettings
    from latentlens.handler.answers import InvalidParameter as InvalidParameter
    from latentlens.handler.answers import NotFound as NotFound
    from latentlens.handler.artifact import ArtifactUnavailable as ArtifactUnavailable
    from latentlens.lens import Lens as Lens
    from latentlens.lens import LensClosed as LensClosed
    from latentlens.lens import open as open
    from latentlens.registered import RegisteredModel as RegisteredModel
    from latentlens.registered import load_model as load_model
    from latentlens.runner import run_build as run_build


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *_SUBPACKAGES, *(name for name in globals() if name.startswith("__"))})

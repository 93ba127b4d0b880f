"""Every model the build knows, by name, in order: where each model's spec lives, and the lookups on them.

A model's module owns its spec (`SPEC`, build/models/spec.py: its factory with the `--quick` and
large-plan settings, the protocols that evaluate it, its roles and engines); this registry only
lists the built-in modules, imported when a spec is asked for, so `--models` help stays light.
The export takes its models by role (exactly one spec fills each), never by name. A new model is
its module and its contract test (docs/add-a-model.md); one defined elsewhere calls `register`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from latentlens.build.models.spec import (
    CONTENT_FALLBACK,
    ENGINES,
    INPROCESS,
    NEXT_MOVIES,
    ROLES,
    SIMILAR_MOVIES,
    TOPN_FALLBACK,
    Engine,
    ModelInputs,
    ModelSpec,
    Role,
    skip_reason,
    unavailable_reason,
)
from latentlens.build.settings import SettingsError

__all__ = ["CONTENT_FALLBACK", "ENGINES", "INPROCESS", "NEXT_MOVIES", "ROLES", "SIMILAR_MOVIES", "TOPN_FALLBACK",
           "Engine", "ModelInputs", "ModelSpec", "Role", "Selection", "all_specs", "export_models", "for_role",
           "models_help", "names", "register", "select", "selection", "skip_reason", "unavailable_reason",
           "unregister"]

# The built-in models in registry order: name -> "module[:attribute]" under build/models/ (attribute SPEC by default).
BUILTIN: dict[str, str] = {
    "popularity": "popularity",
    "itemknn": "itemknn",
    "ease": "ease",
    "content": "content",
    "transitions": "transitions",
    "sasrec": "sasrec",  # the `deep` extra (torch): skipped with the install line without it
    "hybrid": "hybrid",
    "baseline": "baseline",
    "surprise_svd": "surprise_svd",
    "biased_mf": "biased_mf",
    "knn_baseline": "knn_baseline",
    "rating_blend": "rating_blend",
    "als_explicit": "spark_als:ALS_EXPLICIT",  # Spark-only: no in-process implementation
    "als_implicit": "spark_als:ALS_IMPLICIT",
}

_REGISTERED: dict[str, ModelSpec] = {}  # models registered by their own module (register), after the built-in ones
_LOADED: dict[str, ModelSpec] = {}      # the built-in specs, imported on first use


def _builtin(name: str) -> ModelSpec:
    if name not in _LOADED:
        module, _, attribute = BUILTIN[name].partition(":")
        spec = getattr(import_module(f"latentlens.build.models.{module}"), attribute or "SPEC")
        if not isinstance(spec, ModelSpec) or spec.name != name:
            raise LookupError(f"build/models/{module}.py does not declare the spec of {name!r}")
        _LOADED[name] = spec
    return _LOADED[name]


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry from its own module: the build evaluates it on every engine it has an
    implementation for, `--models` lists it, and it can be champion. Returns the spec."""
    if spec.name in BUILTIN or _REGISTERED.get(spec.name, spec) != spec:
        raise ValueError(f"a model named {spec.name!r} is already registered")
    _REGISTERED[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a model `register` added (tests)."""
    _REGISTERED.pop(name, None)


def names() -> tuple[str, ...]:
    """Every registered model's name, in registry order, without importing any model."""
    return (*BUILTIN, *_REGISTERED)


def all_specs() -> dict[str, ModelSpec]:
    """Every registered model, the built-in ones first, in registry order."""
    return {**{name: _builtin(name) for name in BUILTIN}, **_REGISTERED}


def for_role(role: Role, engine: Engine = INPROCESS) -> ModelSpec:
    """The one spec that fills `role` on `engine`."""
    found = [spec for spec in all_specs().values() if role in spec.roles_on(engine)]
    if len(found) != 1:
        raise LookupError(f"role {role!r} is filled by {[s.name for s in found]} on the {engine} engine, "
                          "not by exactly one model")
    return found[0]


def export_models(engine: Engine = INPROCESS) -> tuple[str, ...]:
    """Models `engine`'s export needs whatever the champions are: every role's, in registry order."""
    return tuple(spec.name for spec in all_specs().values() if spec.roles_on(engine))


def models_help() -> str:
    """The `--models` help: every registered name, from this registry."""
    return f"comma-separated subset: {', '.join(names())} (default: all; a model without an " \
           "implementation on the build's engine, or without its optional extra, is reported as skipped)"


@dataclass(frozen=True)
class Selection:
    """The models a build runs on its engine, and the asked-for ones it skips, each with the reason."""

    specs: list[ModelSpec]
    skipped: dict[str, str]


def selection(names: tuple[str, ...] | None, engine: Engine = INPROCESS) -> Selection:
    """`--models` (None: every registered model) on `engine`: unknown names fail, models without an
    implementation there, or missing an optional extra, are skipped with the reason."""
    specs = all_specs()
    unknown = [n for n in names or () if n not in specs]
    if unknown:
        raise SettingsError(f"unknown model(s) {unknown}; known: {', '.join(specs)}")
    asked = [specs[n] for n in names] if names is not None else list(specs.values())
    reasons = {s.name: unavailable_reason(s, engine) for s in asked}
    return Selection([s for s in asked if reasons[s.name] is None],
                     {name: reason for name, reason in reasons.items() if reason is not None})


def select(names: tuple[str, ...] | None, engine: Engine = INPROCESS) -> list[ModelSpec]:
    """The models of `selection` that run on `engine`."""
    return selection(names, engine).specs

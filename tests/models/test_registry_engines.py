"""The one model registry: every model, the engines it has implementations for, and what a build on an
engine without one reports (skipped, with the reason)."""

from __future__ import annotations

import pytest

from latentlens.build.models import registry


def test_one_registry_names_each_models_engines_and_skips_the_others_with_the_reason() -> None:
    """popularity runs on both engines, the ALS models only on Spark, EASE only in-process: a model asked
    for on an engine without an implementation is skipped with the reason, not refused nor dropped."""
    specs = registry.all_specs()
    assert specs["popularity"].engines == ("inprocess", "spark")
    assert specs["als_implicit"].engines == ("spark",) and specs["ease"].engines == ("inprocess",)
    chosen = registry.selection(("popularity", "als_explicit", "ease"), "inprocess")
    assert [s.name for s in chosen.specs] == ["popularity", "ease"]
    assert chosen.skipped == {"als_explicit": "no implementation on the inprocess engine (it has: spark)"}
    on_spark = registry.selection(None, "spark")
    assert [s.name for s in on_spark.specs] == ["popularity", "als_explicit", "als_implicit"]
    assert set(on_spark.skipped) == {name for name, s in specs.items() if "spark" not in s.engines}
    with pytest.raises(LookupError, match="no implementation on the inprocess engine"):
        specs["als_explicit"].make(None)  # type: ignore[arg-type]  # never reaches the factory


def test_a_model_registers_itself_once_and_is_listed_until_unregistered() -> None:
    spec = registry.ModelSpec("toy_registered", None, implementations={"spark": "nowhere:TOY"})
    assert registry.register(spec) is spec
    try:
        assert registry.all_specs()["toy_registered"] is spec and "toy_registered" in registry.models_help()
        assert registry.selection(("toy_registered",), "inprocess").skipped == {
            "toy_registered": "no implementation on the inprocess engine (it has: spark)"}
        with pytest.raises(ValueError, match="already registered"):
            registry.register(registry.ModelSpec("toy_registered", None))
        with pytest.raises(ValueError, match="already registered"):
            registry.register(registry.ModelSpec("ease", None))
    finally:
        registry.unregister("toy_registered")
    assert "toy_registered" not in registry.all_specs()


def test_each_model_module_owns_its_spec_and_the_registry_lists_them_in_order() -> None:
    """The registry holds names and modules only; each spec (its factory with the quick and large settings)
    is its module's, and the order is the registry's."""
    import importlib

    assert registry.names()[:14] == ("popularity", "itemknn", "ease", "content", "transitions", "sasrec", "hybrid",
                                     "baseline", "surprise_svd", "biased_mf", "knn_baseline", "rating_blend",
                                     "als_explicit", "als_implicit")
    for name, spec in registry.all_specs().items():
        if name in registry.BUILTIN:
            module, _, attribute = registry.BUILTIN[name].partition(":")
            assert getattr(importlib.import_module(f"latentlens.build.models.{module}"), attribute or "SPEC") is spec
            if spec.factory is not None:
                assert spec.factory.__module__ == f"latentlens.build.models.{module}"


def test_the_models_help_imports_no_model() -> None:
    """`latentlens build --help` lists the registry without importing numpy or any model module."""
    import subprocess
    import sys

    probe = ("import sys\nfrom latentlens.build.models import registry\nregistry.models_help()\n"
             "models = [m for m in sys.modules if m.startswith('latentlens.build.models.')]\n"
             "print(sorted(m for m in sys.modules if m in ('numpy', 'scipy')) + [m for m in models"
             " if m.rsplit('.', 1)[1] in registry.BUILTIN])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"

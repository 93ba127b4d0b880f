"""Every registered model with an in-process implementation is held to the model contract: registering a
model without a contract test (tests/models/contract.py) fails here, by the model's name."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import tests.models
from latentlens.build.models import registry
from tests.models.contract import RecommenderContract


def _contract_classes() -> list[type[RecommenderContract]]:
    """Every concrete contract class of the tests/models modules."""
    found = []
    for info in pkgutil.iter_modules(tests.models.__path__):
        module = importlib.import_module(f"tests.models.{info.name}")
        found += [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                  if issubclass(cls, RecommenderContract) and cls.__module__ == module.__name__
                  and cls.__name__.startswith("Test")]  # what pytest collects and runs
    return found


@pytest.fixture(scope="module")
def covered() -> set[type]:
    """The model classes the contract classes run."""
    return {type(cls().make_model()) for cls in _contract_classes()}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> registry.ModelInputs:
    from latentlens.build.data.loader import load_movielens
    from latentlens.build.interactions import to_interactions
    from tests.reliability.build_runner import write_tiny_dataset

    data = load_movielens(write_tiny_dataset(tmp_path_factory.mktemp("tiny") / "ml-tiny"))
    return registry.ModelInputs(data=data, items=to_interactions(data).items, quick=True)


@pytest.mark.parametrize("name", [s.name for s in registry.all_specs().values() if registry.INPROCESS in s.engines])
def test_every_registered_model_has_a_contract_test(name: str, covered: set[type], inputs) -> None:
    model = registry.all_specs()[name].make(inputs)
    assert type(model) in covered, f"{name}: no contract test runs {type(model).__name__} (tests/models/contract.py)"

"""The two stores share one interface (latentlens.handler.store.Store) and neither is a kind of the other."""

from __future__ import annotations

import inspect

import pytest

from latentlens.handler.duckdb_store import DuckDBStore
from latentlens.handler.dynamodb import DynamoDBStore
from latentlens.handler.store import Store
from latentlens.handler.stores import make_store
from tests.handler.conftest import make_settings

INTERFACE = ("artifact", "rows", "invalidate", "close")


@pytest.mark.parametrize(("db", "kind"), [("{tmp}/latentlens.duckdb", DuckDBStore), ("s3://bucket/key", DuckDBStore),
                                          ("dynamodb://latentlens", DynamoDBStore)])
def test_make_store_picks_the_store_the_setting_names(tmp_path, db, kind) -> None:
    store = make_store(make_settings(db.format(tmp=tmp_path), tmp_path))
    assert type(store) is kind and isinstance(store, Store)


def test_each_store_implements_the_interface_itself() -> None:
    assert not issubclass(DynamoDBStore, DuckDBStore) and not issubclass(DuckDBStore, DynamoDBStore)
    for kind in (DuckDBStore, DynamoDBStore):
        assert kind.__mro__ == (kind, object), kind.__mro__  # no base class: the interface is a Protocol
        for name in INTERFACE:
            assert name in vars(kind), (kind, name)
            ours, interface = inspect.signature(getattr(kind, name)), inspect.signature(getattr(Store, name))
            assert list(ours.parameters) == list(interface.parameters), (kind, name)

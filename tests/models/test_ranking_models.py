"""Contract and model-specific tests of the top-N models."""

from __future__ import annotations

import numpy as np

from build.models.itemknn import ItemKNN, ItemKNNConfig
from build.models.popularity import Popularity, PopularityConfig
from tests.models.contract import RecommenderContract


class TestPopularityCount(RecommenderContract):
    personalised = False

    def make_model(self):
        return Popularity(PopularityConfig(score="count"))


class TestItemKNN(RecommenderContract):
    supports_similar_items = True

    def make_model(self):
        return ItemKNN(ItemKNNConfig())


class TestItemKNNBinary(RecommenderContract):
    supports_similar_items = True

    def make_model(self):
        return ItemKNN(ItemKNNConfig(weighting="binary", k=20, shrinkage=0.0))

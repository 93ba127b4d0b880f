"""Splitting, batch recommendation and metric collection: the evaluation of every model."""

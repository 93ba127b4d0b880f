"""A/B experiments, offline: the statistics (stats.py), the report over an event store (report.py, `latentlens
experiment report`), its plot (plot.py), and a replay of a temporal holdout as a population through the real API
(population.py, simulate.py: `latentlens experiment simulate`). The API assigns arms
(latentlens.handler.experiments); nothing here is imported by the handler.
"""

"""`latentlens build --engine spark`: the same build on Apache Spark (optional extra `latentlens[spark]`).

Small modules with one job each: session (start Spark), io (read and validate the ratings),
split (temporal holdout), models (popularity, ALS, top-k), evaluate (the metrics), export
(Parquet shards, manifest, DuckDB assembly) and pipeline (chains them under MLflow).
"""

"""LatentLens lookup API: a small FastAPI app over the build's DuckDB file, run on AWS Lambda via Mangum.

Kept light on purpose: this package imports fastapi, mangum, duckdb, pydantic-settings and boto3 only.
"""

"""Writing the one DuckDB artifact atomically, and reading it back with SQL."""

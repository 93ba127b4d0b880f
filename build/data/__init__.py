"""Reading MovieLens releases into typed polars tables, summarising them, and synthesising big ones."""

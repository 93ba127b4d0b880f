"""Routers by resource: health, users, movies, popular, recommendations; events (the one write).

Endpoints are `async def` on purpose: each does sub-millisecond DuckDB work, and a sync route
would pay a thread-pool hop per request (measured ~0.5 ms p50, ~4 ms p99 under Mangum) — more
than the query itself. On Lambda a container serves one request at a time anyway.
POST /events is async too, but hands its store write (an fsync, or a DynamoDB call) to the thread pool.
"""

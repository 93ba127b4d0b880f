"""Events in: what people do with movies, validated and stored (docs/events.md).

- model.py: the event a client posts (`Event`), the rules, `parse_events`, and what a store keeps (`StoredEvent`,
  `Person`).
- store.py: the `EventStore` interface every reader and writer uses; stores.py: `open_event_store(uri, settings)`.
- sqlite_store.py: a file (SQLite, WAL, synchronous=FULL, group commit) for `latentlens serve --events FILE`.
- dynamodb_store.py: `dynamodb://TABLE`, the table template.yaml declares for Lambda.

The route is latentlens.handler.routes.events. Standard library, pydantic and (DynamoDB only) boto3.
"""

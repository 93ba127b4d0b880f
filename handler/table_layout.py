"""The one owner of the DynamoDB layout: table names, item keys, the value encoding and its version.

`latentlens publish dynamodb` writes it and handler.dynamodb reads it. One table per published
build (`<name>.<build id>`), immutable once written; a pointer table `<name>` holds one item
naming the build being served. Every item is `{pk: S, v: B}`, `v` the compact JSON of its payload,
zlib-compressed:

- `u#<user_id>`  -> the user's rows, exactly latentlens.handler.queries.USER_COLUMNS per row
- `ch#<user_id>` -> the user's rows of the challenger's lists (challenger_recommendations), the same columns
- `s#<sha256>`   -> the user id a build trained a session as (session_users: the sha256 hex of the session id)
- `m#<movie_id>` -> [movie row (MOVIE_COLUMNS), neighbour rows (SIMILAR_COLUMNS), next rows (NEXT_COLUMNS)]
- `meta`         -> build_info, the source's sha256, the columns above, counts (of users, challenger users,
                    sessions and movies), catalogue chunk count
- `c#<i>`        -> slice i of the compressed catalogue (movie map, title-index rows, popular lists),
                    read once per container
"""

from __future__ import annotations

import json
import re
import zlib

FORMAT_VERSION = 1

KEY = "pk"
VALUE = "v"
POINTER_KEY = "current"
META_KEY = "meta"

# A deployment name: no '.', so `<name>.*` (the role's table ARN pattern) cannot match another name's tables.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{3,200}$")
SEPARATOR = "."

# How long a warm container serves the build it holds before it reads the pointer again (one consistent
# GetItem): the default of LATENTLENS_DYNAMODB_POINTER_CACHE_S. A rollback keeps the table it leaves for
# ROLLBACK_GRACE_S, five times longer, so every warm container has followed the pointer (and any request
# it began before then has ended) before that table is deleted by a later publish or rollback.
POINTER_CACHE_S = 60.0
ROLLBACK_GRACE_S = 5 * POINTER_CACHE_S

# Catalogue slices stay far below DynamoDB's 400 KB item limit (and a BatchGetItem's 16 MB reply).
CHUNK_BYTES = 128 * 1024


def user_key(user_id: int) -> str:
    return f"u#{user_id}"


def challenger_key(user_id: int) -> str:
    return f"ch#{user_id}"


def session_key(session_sha256: str) -> str:
    return f"s#{session_sha256}"


def movie_key(movie_id: int) -> str:
    return f"m#{movie_id}"


def chunk_key(index: int) -> str:
    return f"c#{index}"


def build_table(name: str, build_id: str) -> str:
    return f"{name}{SEPARATOR}{build_id}"


def is_build_table(name: str, table: str) -> bool:
    return table.startswith(name + SEPARATOR)


def encode(payload) -> bytes:
    """Compact JSON, compressed: Python's float repr round-trips exactly, so decoded rows equal the source's."""
    return zlib.compress(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode(), 6)


class LayoutError(ValueError):
    """An item that is not what this layout writes: no `v` of type B, or a value that is not compressed JSON."""


def decode(blob: bytes):
    try:
        return json.loads(zlib.decompress(blob))
    except (zlib.error, UnicodeDecodeError, ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise LayoutError(f"value is not compressed JSON ({type(exc).__name__})") from None


def item_blob(item: dict) -> bytes:
    """The stored bytes of an item as DynamoDB returns it (`{pk: {S}, v: {B}}`), or LayoutError."""
    value = item.get(VALUE)
    blob = value.get("B") if isinstance(value, dict) else None
    if not isinstance(blob, bytes | bytearray):
        raise LayoutError(f"attribute {VALUE} is not binary ({'missing' if value is None else sorted(value)})")
    return bytes(blob)


def item_value(item: dict):
    """The decoded payload of an item as DynamoDB returns it, or LayoutError."""
    return decode(item_blob(item))

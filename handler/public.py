"""What the public may read about an unavailable artifact: the reason code and a fixed short message.

An ArtifactUnavailable's own message carries the details an operator needs (file paths, DuckDB's and
the OS's error text, S3 bucket and key); Store logs it. Clients get only the text below, so no path or
internal message reaches them, whichever reason a future change adds.
"""

from __future__ import annotations

PUBLIC_MESSAGES = {
    "artifact_missing": "the artifact is not there",
    "manifest_missing": "the artifact has no sha256 manifest beside it",
    "manifest_invalid": "the artifact's sha256 manifest cannot be read",
    "checksum_mismatch": "the artifact does not match its sha256 manifest (truncated or corrupted)",
    "artifact_unreadable": "the artifact cannot be read",
    "artifact_incomplete": "the artifact lacks required tables or build information",
    "artifact_invalid": "the artifact holds a number JSON cannot carry (NaN or infinite); rebuild it",
    "schema_too_new": "the artifact's schema is newer than this handler's; deploy a newer handler",
    "schema_too_old": "the artifact's schema is older than this handler's; rebuild the artifact",
    "io_error": "the artifact cannot be read from disk",
    "s3_unavailable": "the artifact cannot be fetched from S3 right now",
    # DynamoDB mode
    "pointer_missing": "no build has been published to the store yet",
    "not_published": "no build has been published to the store yet",
    "table_missing": "the published build's table is not there",
    "schema_mismatch": "the published build's layout does not match this handler; publish it again",
    "store_throttled": "the store is throttling reads; try again shortly",
    "store_unavailable": "the store cannot be read right now",
    "store_misconfigured": "the store is not configured correctly",
    "store_invalid": "the store's pointer or build metadata is corrupt; publish a build to repair it",
    "item_invalid": "this entry of the published build is corrupt; other entries are served",
}


def public_message(reason: str) -> str:
    """A short message for `reason` that names no path and quotes no internal error; details are in the logs."""
    return PUBLIC_MESSAGES.get(reason, "the artifact cannot be served")

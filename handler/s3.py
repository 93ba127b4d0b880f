"""Fetch an `s3://bucket/key` artifact to local disk once, verified against its sha256 manifest.

The file is hashed while it streams in and only renamed into place when the digest matches,
so a corrupt or partial download never sits in the cache looking like a good one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time

from latentlens.handler import schema
from latentlens.handler.artifact import ArtifactUnavailable, digests_match, manifest_digest, sha256_file
from latentlens.handler.settings import Settings

_CHUNK = 1 << 20


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key)."""
    rest = uri[len("s3://"):] if uri.startswith("s3://") else ""
    bucket, _, key = rest.partition("/")
    if not bucket or not key:
        raise ArtifactUnavailable("artifact_missing", f"not an s3://bucket/key URI: {uri}")
    return bucket, key


def s3_client(settings: Settings):
    """A client with bounded timeouts and retries: a slow S3 gives a 503, not a hung Lambda."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=settings.s3_connect_timeout_s,
        read_timeout=settings.s3_read_timeout_s,
        # total_max_attempts counts the first try; botocore's "max_attempts" would count retries only (one more)
        retries={"total_max_attempts": settings.s3_max_attempts, "mode": "standard"},
    )
    return boto3.client("s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region, config=config)


def _s3_failure(exc: Exception, what: str) -> ArtifactUnavailable:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            return ArtifactUnavailable("artifact_missing", f"{what} not found in S3")
        if code in ("403", "AccessDenied", "Forbidden"):  # the role has no s3:ListBucket (least privilege)
            return ArtifactUnavailable("s3_unavailable", f"S3 refused {what}: {code}. Either the key does not exist "
                                       "(without s3:ListBucket S3 answers 403, not 404) or the role may not read it")
        return ArtifactUnavailable("s3_unavailable", f"S3 refused {what}: {code or exc}")
    return ArtifactUnavailable("s3_unavailable", f"S3 unreachable fetching {what}: {type(exc).__name__}")


class Deadline:
    """One deadline for the whole fetch. botocore bounds each socket operation (read_timeout), not a
    download: an object that trickles in, each chunk inside the read timeout, would outlive the Lambda."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def check(self, what: str) -> None:
        if self.remaining() <= 0:
            raise ArtifactUnavailable("s3_unavailable",
                                      f"fetching {what} took longer than its {self.seconds:g} s deadline")

    def before_send(self, request, **_) -> None:
        """botocore's `before-send` hook: no new attempt (first or retry) starts after the deadline."""
        self.check(request.url)


def _pieces(body, deadline: Deadline, read_timeout: float, what: str):
    """The body in pieces of whatever one socket read returns (`read1` of botocore's urllib3 response; a plain
    `read` where there is none, as in moto's in-process mock), each read's timeout cut to the time left.
    `StreamingBody.read(n)` would wait for all n bytes, however slowly they come."""
    from botocore.compat import set_socket_timeout  # what StreamingBody.set_socket_timeout calls, without its log
    from urllib3.exceptions import HTTPError

    raw = getattr(body, "_raw_stream", None)
    read = getattr(raw, "read1", None) or body.read
    while True:
        deadline.check(what)
        try:
            set_socket_timeout(raw, max(0.001, min(read_timeout, deadline.remaining())))
        except AttributeError:  # no socket: the in-process mock, or the stream already at its end
            pass
        try:
            piece = read(_CHUNK)
        except HTTPError as exc:  # a raw urllib3 error: what botocore would have wrapped
            deadline.check(what)  # a timeout cut short by the deadline says so
            raise ArtifactUnavailable("s3_unavailable", f"S3 failed sending {what}: {type(exc).__name__}") from None
        if not piece:
            return
        yield piece


def fetch(uri: str, settings: Settings, client=None) -> tuple[str, str]:
    """Download `uri` into settings.tmp_dir unless a verified copy is there; returns (path, sha256).
    All of it (manifest, artifact, retries) ends by settings.s3_deadline_s, else s3_unavailable."""
    bucket, key = parse_s3_uri(uri)
    client = client or s3_client(settings)
    deadline = Deadline(settings.s3_deadline_s)
    client.meta.events.register("before-send.s3", deadline.before_send)
    try:
        return _fetch(bucket, key, settings, client, deadline)
    finally:
        client.meta.events.unregister("before-send.s3", deadline.before_send)


def _fetch(bucket: str, key: str, settings: Settings, client, deadline: Deadline) -> tuple[str, str]:
    from botocore.exceptions import BotoCoreError, ClientError

    mkey = schema.manifest_path(key)
    try:
        manifest = client.get_object(Bucket=bucket, Key=mkey)["Body"].read(4096).decode("utf-8", "replace")
    except (BotoCoreError, ClientError) as exc:
        raise _s3_failure(exc, f"manifest s3://{bucket}/{mkey}") from None
    expected = manifest_digest(manifest)

    os.makedirs(settings.tmp_dir, exist_ok=True)
    # The digest in the name: a new build never collides with the previous one's file.
    local = os.path.join(settings.tmp_dir, f"{expected[:16]}-{os.path.basename(key)}")
    if os.path.isfile(local) and digests_match(sha256_file(local), expected):
        return local, expected

    fd, partial = tempfile.mkstemp(dir=settings.tmp_dir, prefix=".download-")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                body = client.get_object(Bucket=bucket, Key=key)["Body"]
                try:
                    for chunk in _pieces(body, deadline, settings.s3_read_timeout_s, f"artifact s3://{bucket}/{key}"):
                        digest.update(chunk)
                        out.write(chunk)
                finally:
                    body.close()
            except (BotoCoreError, ClientError) as exc:
                raise _s3_failure(exc, f"artifact s3://{bucket}/{key}") from None
        if not digests_match(digest.hexdigest(), expected):
            raise ArtifactUnavailable("checksum_mismatch",
                                      "downloaded artifact does not match its sha256 manifest; refused")
        os.replace(partial, local)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return local, expected

"""Put the artifact in S3 under its content-addressed key, exactly once.

The key holds the sha256, so an upload never overwrites what a running stack reads: the stack
switches only when `sam deploy` changes its ArtifactKey, and rolling back is deploying an older
key. S3 makes an object visible only once its upload completed, and the manifest goes up after
the artifact, so "manifest present" means "artifact complete".
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from infra.artifact import ARTIFACT_NAME, DeployError, VerifiedArtifact
from latentlens.handler.schema import manifest_path

_SHA_METADATA = "sha256"  # x-amz-meta-sha256: what a later deploy compares before skipping


@dataclass(frozen=True)
class UploadResult:
    """Where the artifact is and whether this run had to send it."""

    bucket: str
    key: str
    uploaded: bool

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class StoredArtifact:
    """One artifact found under the prefix (for --list and rollback)."""

    key: str
    size: int
    last_modified: str


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def ensure_bucket(client, bucket: str, create: bool) -> None:
    """The bucket must exist; with create=True make it private instead of failing."""
    from botocore.exceptions import ClientError

    try:
        client.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise DeployError(f"cannot use bucket {bucket}: {_error_code(exc) or exc}") from None
    if not create:
        raise DeployError(f"bucket {bucket} does not exist: create it (`aws s3 mb s3://{bucket}`) "
                          "or pass --create-bucket")
    region = client.meta.region_name
    kwargs = {} if region in (None, "us-east-1") else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    client.create_bucket(Bucket=bucket, **kwargs)
    client.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True,
            "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
        },
    )


def _head(client, bucket: str, key: str) -> dict | None:
    from botocore.exceptions import ClientError

    try:
        return client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise DeployError(f"cannot read s3://{bucket}/{key}: {_error_code(exc) or exc}") from None


def _already_there(client, bucket: str, key: str, artifact: VerifiedArtifact) -> bool:
    """True when this exact artifact and its manifest are stored; refuse a key holding other bytes."""
    head = _head(client, bucket, key)
    if head is None:
        return False
    stored = head.get("Metadata", {}).get(_SHA_METADATA)
    if stored != artifact.sha256 or head.get("ContentLength") != artifact.size:
        raise DeployError(
            f"s3://{bucket}/{key} exists but is not this artifact (sha256 metadata {stored!r}, "
            f"{head.get('ContentLength')} bytes); content-addressed keys are never overwritten, "
            "delete it by hand if it is junk"
        )
    return _head(client, bucket, manifest_path(key)) is not None


def upload(client, bucket: str, key: str, artifact: VerifiedArtifact) -> UploadResult:
    """Upload artifact then manifest unless both are already stored; S3 checks each part's sha256."""
    if _already_there(client, bucket, key, artifact):
        return UploadResult(bucket, key, uploaded=False)
    client.upload_file(
        str(artifact.path), bucket, key,
        ExtraArgs={
            "Metadata": {_SHA_METADATA: artifact.sha256},
            "ChecksumAlgorithm": "SHA256",
            "ContentType": "application/octet-stream",
        },
    )
    head = _head(client, bucket, key)
    if head is None or head.get("ContentLength") != artifact.size:
        raise DeployError(f"upload of s3://{bucket}/{key} did not complete; nothing was deployed, run again")
    body = artifact.manifest_text().encode("utf-8")
    client.put_object(
        Bucket=bucket, Key=manifest_path(key), Body=body, ContentType="text/plain",
        ChecksumSHA256=base64.b64encode(hashlib.sha256(body).digest()).decode("ascii"),
    )
    return UploadResult(bucket, key, uploaded=True)


def require_present(client, bucket: str, key: str) -> int:
    """For rollback: the key and its manifest must both be there before the stack points at them.

    Returns the artifact's size, which decides the function's /tmp size.
    """
    size = 0
    for k in (key, manifest_path(key)):
        head = _head(client, bucket, k)
        if head is None:
            raise DeployError(f"s3://{bucket}/{k} does not exist; "
                              f"`python -m infra.deploy --list --bucket {bucket}` shows what does")
        size = size or int(head.get("ContentLength", 0))
    return size


def list_artifacts(client, bucket: str, prefix: str) -> list[StoredArtifact]:
    """Artifacts under the prefix, newest first: the candidates for a rollback."""
    found: list[StoredArtifact] = []
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix.strip("/") + "/" if prefix.strip("/") else "")
    for page in pages:
        for obj in page.get("Contents", []):
            if obj["Key"].endswith("/" + ARTIFACT_NAME):
                found.append(StoredArtifact(obj["Key"], int(obj["Size"]), obj["LastModified"].isoformat()))
    return sorted(found, key=lambda a: a.last_modified, reverse=True)

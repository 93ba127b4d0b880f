"""Typed settings of one deploy, parsed from the command line by infra.deploy."""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARTIFACT = Path("artifacts/latentlens.duckdb")
DEFAULT_CODE_DIR = Path("infra/lambda")  # template.yaml's CodeUri
DEFAULT_PREFIX = "latentlens"
DEFAULT_STACK = "latentlens"
BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # as template.yaml's ArtifactBucket


@dataclass(frozen=True)
class DeploySettings:
    """Everything a deploy needs to know; paths are relative to the repository root."""

    mode: Literal["bundled", "s3", "dynamodb"] = "bundled"
    artifact: Path = DEFAULT_ARTIFACT
    bucket: str | None = None
    prefix: str = DEFAULT_PREFIX
    key: str | None = None  # deploy this existing key (rollback) instead of uploading
    dynamodb_name: str | None = None  # dynamodb mode: the pointer table `latentlens publish dynamodb` flips
    stack_name: str = DEFAULT_STACK
    region: str | None = None
    dry_run: bool = False
    build: bool = False
    create_bucket: bool = False
    list_only: bool = False
    confirm_changeset: bool = False
    code_dir: Path = DEFAULT_CODE_DIR
    template: Path = Path("template.yaml")
    root: Path = REPO_ROOT
    parameters: dict[str, str] = field(default_factory=dict)

    def at_root(self, path: Path) -> Path:
        return path if path.is_absolute() else self.root / path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m infra.deploy",
        description="Verify the artifact, upload it to S3 under its sha256 (s3 mode) or stage it into "
                    "the package (bundled mode), then `sam build` and `sam deploy`.",
    )
    p.add_argument("--mode", choices=["bundled", "s3", "dynamodb"], default="bundled",
                   help="bundled: artifact inside the Lambda package; s3: read from s3://BUCKET/KEY; dynamodb: publish "
                        "to DynamoDB tables and read those (default: bundled)")
    p.add_argument("--dynamodb-name", help="dynamodb mode: the deployment name (pointer table; builds are <name>.<id>)")
    p.add_argument("--artifact", type=Path, default=DEFAULT_ARTIFACT,
                   help=f"built artifact (default: {DEFAULT_ARTIFACT})")
    p.add_argument("--bucket", help="artifact bucket (s3 mode)")
    p.add_argument("--prefix", default=DEFAULT_PREFIX, help=f"key prefix in the bucket (default: {DEFAULT_PREFIX})")
    p.add_argument("--key", help="deploy this already uploaded key instead of the local artifact: rollback (s3 mode)")
    p.add_argument("--list", dest="list_only", action="store_true",
                   help="list the artifacts stored under the prefix and stop")
    p.add_argument("--stack-name", default=DEFAULT_STACK, help=f"CloudFormation stack (default: {DEFAULT_STACK})")
    p.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
                   help="AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION or your AWS config)")
    p.add_argument("--dry-run", action="store_true",
                   help="verify, upload/stage (harmless: nothing serves a new key before deploy), "
                        "print the sam commands without running them")
    p.add_argument("--build", action="store_true", help="run `latentlens build --out ARTIFACT` first")
    p.add_argument("--create-bucket", action="store_true", help="create the bucket (private) if it does not exist")
    p.add_argument("--confirm-changeset", action="store_true",
                   help="let sam deploy show the change set and ask before applying")
    p.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE",
                   help="extra template parameter, e.g. ThrottlingRateLimit=20 (repeatable)")
    p.add_argument("--code-dir", type=Path, default=DEFAULT_CODE_DIR,
                   help="the template's CodeUri folder, where bundled mode stages the artifact (default: infra/lambda)")
    p.add_argument("--template", type=Path, default=Path("template.yaml"), help=argparse.SUPPRESS)
    return p


def from_argv(argv: list[str] | None) -> DeploySettings:
    """Parse and cross-check the options; argparse exits 2 with a message on a bad combination."""
    p = parser()
    a = p.parse_args(argv)
    if a.mode == "s3" and not a.bucket:
        p.error("--mode s3 needs --bucket")
    if a.bucket and not BUCKET_PATTERN.match(a.bucket):
        p.error(f"--bucket {a.bucket!r} is not a valid S3 bucket name (3-63 of a-z 0-9 . -)")
    if a.list_only and not a.bucket:
        p.error("--list needs --bucket")
    if a.mode == "dynamodb" and not a.dynamodb_name:
        p.error("--mode dynamodb needs --dynamodb-name")
    if a.key and a.mode != "s3":
        p.error("--key (rollback to a stored artifact) needs --mode s3")
    if a.key and a.build:
        p.error("--key deploys a stored artifact; --build makes a new one: pick one")
    params: dict[str, str] = {}
    for item in a.parameter:
        name, sep, value = item.partition("=")
        if not sep or not name:
            p.error(f"--parameter wants NAME=VALUE, got {item!r}")
        params[name] = value
    return DeploySettings(
        mode=a.mode, artifact=a.artifact, bucket=a.bucket, prefix=a.prefix, key=a.key, dynamodb_name=a.dynamodb_name,
        stack_name=a.stack_name, region=a.region, dry_run=a.dry_run, build=a.build,
        create_bucket=a.create_bucket, list_only=a.list_only, confirm_changeset=a.confirm_changeset,
        code_dir=a.code_dir, template=a.template, parameters=params,
    )

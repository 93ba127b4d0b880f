"""`python -m infra.deploy`: from a built artifact to a live API, in one command.

Steps: (build) → verify the artifact against its manifest → upload it to S3 under its sha256
(s3 mode) or stage it into the package (bundled mode) → `sam build` → byte-compile the package
→ `sam deploy` with the new key. Nothing the stack serves changes before `sam deploy`, so a
failure at any step leaves the live API as it was, and rollback is `--key <previous key>`.
`--dry-run` runs everything up to the sam commands and prints those instead of running them.
"""

from __future__ import annotations

import math
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # `python infra/deploy.py`: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra import artifact as artifact_mod
from infra import sam, stage, upload
from infra.artifact import DeployError
from infra.settings import DeploySettings, from_argv

Out = Callable[[str], None]

# Lambda's free /tmp is 512 MB; s3 mode downloads the artifact there, plus room for DuckDB's temp.
TMP_FREE_MB = 512
TMP_HEADROOM_MB = 128


def tmp_storage_mb(artifact_bytes: int) -> int:
    """Ephemeral storage the function needs to hold a downloaded artifact (Lambda allows 512–10240)."""
    need = math.ceil(artifact_bytes / 2**20) + TMP_HEADROOM_MB
    if need > 10240:
        raise DeployError(f"artifact of {artifact_bytes / 1e9:.1f} GB does not fit in Lambda's 10 GB /tmp")
    return max(TMP_FREE_MB, need)


def with_tmp_storage(mb: int, **params: str) -> dict[str, str]:
    """The stack's /tmp size and what follows from it: SnapStart only where Lambda allows it (512 MB of /tmp)."""
    return {**params, "TmpStorageMB": str(mb), "SnapStart": "PublishedVersions" if mb <= TMP_FREE_MB else "None"}


def s3_client(region: str | None):
    import boto3

    return boto3.client("s3", region_name=region)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _build_artifact(s: DeploySettings, out: Out) -> None:
    cmd = [sys.executable, "-m", "latentlens", "build", "--out", str(s.artifact)]
    out(f"  $ {shlex.join(cmd)}")
    sys.stdout.flush()
    if subprocess.run(cmd, cwd=s.root, check=False).returncode != 0:
        raise DeployError("`latentlens build` failed; nothing was uploaded or deployed")


def _list(s: DeploySettings, out: Out) -> int:
    stored = upload.list_artifacts(s3_client(s.region), s.bucket or "", s.prefix)
    if not stored:
        out(f"no artifacts under s3://{s.bucket}/{s.prefix}/")
    for a in stored:
        out(f"{a.last_modified}  {_mb(a.size):>10}  {a.key}")
    return 0


Step = Callable[[str, str], None]


def _prepare_rollback(s: DeploySettings, step: Step, code_dir: Path) -> dict[str, str]:
    """--key: the stored artifact must be complete; nothing is uploaded."""
    key = artifact_mod.check_key(s.key or "")
    size = upload.require_present(s3_client(s.region), s.bucket or "", key)
    step("verify", f"s3://{s.bucket}/{key} and its manifest are stored ({_mb(size)})")
    removed = stage.clear(code_dir)
    step("stage", "removed the staged artifact from the package" if removed else "no artifact in the package (s3 mode)")
    return with_tmp_storage(tmp_storage_mb(size), ArtifactBucket=s.bucket or "", ArtifactKey=key)


def _prepare_artifact(s: DeploySettings, step: Step, out: Out, code_dir: Path) -> dict[str, str]:
    """(Build,) verify, then upload (s3 mode) or stage (bundled mode) the local artifact."""
    if s.build:
        step("build", f"latentlens build --out {s.artifact}")
        _build_artifact(s, out)
    else:
        step("build", f"skipped: using {s.artifact} as built (pass --build to rebuild)")
    verified = artifact_mod.verify(s.at_root(s.artifact))
    step("verify", f"{s.artifact}  sha256 {verified.sha256}  {_mb(verified.size)}  matches its manifest")
    if s.mode == "bundled":
        staged = stage.stage(code_dir, verified)
        shown = staged.relative_to(s.root) if staged.is_relative_to(s.root) else staged
        step("stage", f"{shown}  (ships in the package as /var/task/artifact/latentlens.duckdb)")
        # sam deploy keeps a parameter's previous value unless given: reset what s3 mode set.
        return with_tmp_storage(TMP_FREE_MB)
    if s.mode == "dynamodb":
        return _publish_dynamodb(s, step, out, code_dir)
    client = s3_client(s.region)
    key = artifact_mod.content_key(s.prefix, verified.sha256)
    upload.ensure_bucket(client, s.bucket or "", create=s.create_bucket)
    result = upload.upload(client, s.bucket or "", key, verified)
    what = ("uploaded, with its manifest" if result.uploaded
            else "already present with the same sha256, skipped the re-upload")
    step("upload", f"{result.uri}  {what}")
    if stage.clear(code_dir):
        out("           removed a previously staged artifact from the package (s3 mode ships none)")
    return with_tmp_storage(tmp_storage_mb(verified.size), ArtifactBucket=s.bucket or "", ArtifactKey=key)


def _publish_dynamodb(s: DeploySettings, step: Step, out: Out, code_dir: Path) -> dict[str, str]:
    """Publish a new table and flip the pointer (not in a dry run: the flip serves at once)."""
    name = s.dynamodb_name or ""
    command = f"latentlens publish dynamodb {s.artifact} --name {name}"
    if s.dry_run:
        step("publish", f"skipped in a dry run (the pointer flip serves at once): $ {command}")
    else:
        from latentlens.build.publish.dynamodb import PublishError, PublishSettings, publish

        try:
            result = publish(PublishSettings(source=s.at_root(s.artifact), name=name, region=s.region))
        except PublishError as exc:
            raise DeployError(str(exc)) from None
        step("publish", result.summary_text().splitlines()[0])
    if stage.clear(code_dir):
        out("           removed a previously staged artifact from the package (dynamodb mode ships none)")
    return with_tmp_storage(TMP_FREE_MB, DynamoDBName=name)


def run(s: DeploySettings, out: Out = print) -> int:
    """Carry out (or, with dry_run, show) one deploy; raises DeployError to stop."""
    if s.list_only:
        return _list(s, out)
    problems = sam.missing_tools()
    if problems and not s.dry_run:
        raise DeployError("cannot run the sam steps:\n  " + "\n  ".join(problems))

    rollback = s.key is not None
    title = f"deploy{' (dry run)' if s.dry_run else ''}: stack {s.stack_name}, artifact mode {s.mode}"
    out(title + (f", rolling back to {s.key}" if rollback else ""))
    steps = 5 + (0 if rollback else 1)
    done = 0

    def step(name: str, text: str) -> None:
        nonlocal done
        done += 1
        out(f"[{done}/{steps}] {name:<10} {text}")

    code_dir = s.at_root(s.code_dir)
    prepare = _prepare_rollback(s, step, code_dir) if rollback else _prepare_artifact(s, step, out, code_dir)
    params = {"ArtifactMode": s.mode} | prepare | s.parameters

    target = sam.SamTarget(stack_name=s.stack_name, template=str(s.template), region=s.region,
                           parameters=params, confirm_changeset=s.confirm_changeset)
    commands = (("sam build", sam.build_command(target)), ("compile", sam.compile_command(target)),
                ("sam deploy", sam.deploy_command(target)))
    for name, cmd in commands:
        step(name, f"$ {shlex.join(cmd)}")
        if not s.dry_run:
            sam.run(cmd, cwd=s.root)

    if s.dry_run:
        out("dry run: the commands after $ above were printed, not run")
        for p in problems:
            out(f"before a real run: {p}")
    else:
        out("deployed: the ApiUrl output above is the API; try `curl <ApiUrl>health`")
    if s.mode == "s3":
        out(f"rollback: python -m infra.deploy --mode s3 --bucket {s.bucket} --key <previous key>"
            f"   (stored keys: python -m infra.deploy --list --bucket {s.bucket})")
    if s.mode == "dynamodb":
        out(f"rollback: latentlens publish dynamodb --name {s.dynamodb_name} --rollback   (no redeploy needed)")
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = from_argv(argv)
    try:
        return run(settings)
    except DeployError as exc:
        print(f"deploy: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # botocore's errors, without importing botocore before it is needed
        if type(exc).__module__.startswith("botocore"):
            print(f"deploy: error: AWS said: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())

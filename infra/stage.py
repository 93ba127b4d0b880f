"""Put the artifact into the Lambda code folder (bundled mode) or take it out (s3 mode).

`sam build` copies the whole CodeUri folder, so whatever sits in infra/lambda/artifact/ ships:
bundled mode needs the verified file there under the name LATENTLENS_DB expects, s3 mode
needs the folder gone so a stale copy does not bloat the package.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from infra.artifact import ARTIFACT_NAME, DeployError, VerifiedArtifact, sha256_file
from latentlens.handler.schema import manifest_path

STAGE_DIR = "artifact"  # /var/task/artifact/latentlens.duckdb in template.yaml

# The package without an artifact is ~85 MB unzipped and Lambda allows 250 MB: past this size an
# artifact belongs in S3.
BUNDLED_MAX_BYTES = 150 * 1024 * 1024


def stage(code_dir: Path, artifact: VerifiedArtifact) -> Path:
    """Copy the artifact and its manifest into code_dir/artifact/, renamed into place when verified."""
    if artifact.size > BUNDLED_MAX_BYTES:
        raise DeployError(
            f"artifact is {artifact.size / 1e6:.0f} MB; bundled packages stay under "
            f"{BUNDLED_MAX_BYTES / 1e6:.0f} MB of artifact (Lambda's limit is 250 MB unzipped): use --mode s3"
        )
    target_dir = code_dir / STAGE_DIR
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / ARTIFACT_NAME
    fd, partial = tempfile.mkstemp(dir=target_dir, prefix=".staging-")
    os.close(fd)
    try:
        shutil.copyfile(artifact.path, partial)
        if sha256_file(Path(partial)) != artifact.sha256:
            raise DeployError(f"the copy staged in {target_dir} does not match the artifact; disk full?")
        # mkstemp makes 0600; Lambda runs the code as a non-root user, so the file must be world-readable.
        os.chmod(partial, 0o644)
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    Path(manifest_path(str(target))).write_text(artifact.manifest_text(), encoding="utf-8")
    return target


def clear(code_dir: Path) -> bool:
    """Remove a staged artifact; True when there was one."""
    target_dir = code_dir / STAGE_DIR
    if not target_dir.exists():
        return False
    shutil.rmtree(target_dir)
    return True

"""The artifact as deploy sees it: verified against its manifest and named by its content.

Deploy refuses anything it cannot verify here, before a byte goes to S3 or into a package,
so a truncated or half-rebuilt file can never become what the API serves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from latentlens.handler.schema import fingerprint_file, manifest_path, manifest_text, parse_manifest, sha256_file

# The one file name the function is configured with (template.yaml's bundled LATENTLENS_DB, and
# the last part of every S3 key), whatever the local file is called.
ARTIFACT_NAME = "latentlens.duckdb"

# Same as template.yaml's ArtifactKey AllowedPattern: no '*' or '?', which IAM reads as wildcards.
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.=+-]{0,1000}$")



class DeployError(Exception):
    """A deploy that has to stop; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class VerifiedArtifact:
    """A local artifact whose bytes matched its sha256 manifest when verify() read them."""

    path: Path
    sha256: str
    size: int

    def manifest_text(self) -> str:
        """The manifest as deployed beside the artifact, in `sha256sum` format, with its fingerprint line."""
        return manifest_text(self.sha256, ARTIFACT_NAME, fingerprint_file(self.path))


def read_manifest(path: Path) -> tuple[str, str]:
    """(digest, file name) of a `<hex>  <filename>` manifest; `sha256sum -b`'s '*' is accepted."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeployError(f"no manifest {path}: the build writes one beside the artifact; "
                          "rebuild with `latentlens build`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DeployError(f"cannot read manifest {path}: {exc}") from None
    parsed = parse_manifest(text)
    if parsed is None:
        raise DeployError(f"manifest {path} is not `<sha256 hex>  <filename>`")
    return parsed


def verify(path: Path) -> VerifiedArtifact:
    """Hash the artifact and compare it with its manifest; raise DeployError on any doubt."""
    if not path.is_file():
        raise DeployError(f"artifact {path} not found: build it with `latentlens build --out {path}` (or pass --build)")
    # Resolved once: the build publishes `<out>` as a symlink to a content-addressed file with its
    # manifest beside it, so the manifest read here is the one of the very file hashed.
    real = path.resolve()
    expected, named = read_manifest(Path(manifest_path(str(real))))
    if named not in (path.name, real.name):
        raise DeployError(f"manifest of {path} names {named!r}, not {path.name!r}: it belongs to another file")
    actual = sha256_file(real)
    if actual != expected:
        raise DeployError(
            f"artifact {path} does not match its manifest (sha256 {actual[:12]}…, manifest says {expected[:12]}…): "
            "it is truncated or was changed after the build; rebuild it"
        )
    return VerifiedArtifact(path=real, sha256=actual, size=real.stat().st_size)


def content_key(prefix: str, sha256: str) -> str:
    """`<prefix>/<sha256>/latentlens.duckdb`: a new build never overwrites a key a stack serves."""
    key = f"{prefix.strip('/')}/{sha256}/{ARTIFACT_NAME}" if prefix.strip("/") else f"{sha256}/{ARTIFACT_NAME}"
    check_key(key)
    return key


def check_key(key: str) -> str:
    """Refuse keys the template would reject, before anything is uploaded."""
    if not KEY_PATTERN.match(key):
        raise DeployError(f"S3 key {key!r} is not allowed: use letters, digits and / _ . = + - "
                          "(no * or ?, which IAM reads as wildcards)")
    return key

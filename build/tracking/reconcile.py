"""`latentlens doctor`: does the registry's @champion name the published artifact? A build killed between
publishing its artifact and registering its champions leaves @champion on the previous build; this finds it
and, with `repair`, registers the artifact's own champions (logged with its run) and points @champion at them.

A build marks its run `registration=pending` before it publishes and `done` once registered, so a build run
with --no-register (whose artifact is meant to leave @champion alone) is told apart from a killed one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import mlflow
from mlflow.exceptions import MlflowException

from latentlens.build.tracking import CHAMPION_ALIAS, runs
from latentlens.build.tracking.registry import LoggedModel, register_published
from latentlens.handler import schema

REGISTRATION_TAG = "registration"  # "pending" before the artifact is published, "done" once registered


@dataclass
class Findings:
    lines: list[str] = field(default_factory=list)
    consistent: bool = True


def published(artifact: Path) -> tuple[str, str]:
    """(sha256 from the manifest, the MLflow run id in build_info) of the published artifact."""
    manifest = schema.parse_manifest(Path(schema.manifest_path(str(artifact))).read_text(encoding="utf-8"))
    if manifest is None:
        raise ValueError(f"{schema.manifest_path(str(artifact))}: not a sha256 manifest")
    con = duckdb.connect(str(artifact), read_only=True)
    try:
        row = con.execute(f"SELECT value FROM {schema.BUILD_INFO} WHERE key = ?", ["mlflow_run_id"]).fetchone()
    finally:
        con.close()
    return manifest[0], row[0] if row else ""


def reconcile(tracking_uri: str, artifact: Path, names: dict[str, str], repair: bool = False) -> Findings:
    """Compare each @champion of `names` ({"rating": ..., "topn": ...}) with the artifact; repair if asked."""
    sha, run_id = published(artifact)
    client = mlflow.MlflowClient(tracking_uri)
    found = Findings()
    try:
        run = client.get_run(run_id)
    except MlflowException:
        found.lines.append(f"{artifact}: its build's run {run_id or '(none)'} is not in {tracking_uri}; "
                           "nothing to check")
        return found
    with runs.store_lock(tracking_uri):
        for kind, name in names.items():
            _one(client, run, kind, name, sha, artifact, repair, found)
        if repair and found.consistent and run.data.tags.get(REGISTRATION_TAG) == "pending":
            client.set_tag(run.info.run_id, REGISTRATION_TAG, "done")
    return found


def _one(client: mlflow.MlflowClient, run, kind: str, name: str, sha: str, artifact: Path, repair: bool,
         found: Findings) -> None:
    tags = run.data.tags
    uri = tags.get(f"{kind}_model_uri")
    if not uri:
        return  # the artifact's build logged no such champion
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException:
        champion = None
    if champion is not None and champion.tags.get("artifact_sha256") == sha:
        found.lines.append(f"{name}@{CHAMPION_ALIAS}: v{champion.version}, the published artifact (sha256 {sha[:12]})")
        return
    if tags.get(REGISTRATION_TAG) != "pending":
        found.lines.append(f"{name}: the published artifact's build did not register (--no-register); "
                           f"@{CHAMPION_ALIAS} left alone")
        return
    shown = f"v{champion.version} (sha256 {champion.tags.get('artifact_sha256', '?')[:12]})" if champion else "nothing"
    if not repair:
        found.consistent = False
        found.lines.append(f"{name}@{CHAMPION_ALIAS} names {shown}, not the published artifact (sha256 {sha[:12]}): "
                           "its build was stopped before registering; `latentlens doctor --repair` fixes it")
        return
    version = next((v for v in client.search_model_versions(f"name = '{name}'")
                    if v.tags.get("artifact_sha256") == sha), None)
    if version is None:
        model_id = uri.removeprefix("models:/") if uri.startswith("models:/m-") else None
        logged = LoggedModel(kind, tags.get(f"{kind}_champion", "?"), uri, {}, model_id)
        version = register_published(logged, name, run.info.run_id, artifact, sha, tags.get("dataset", "?"),
                                     tags.get("dataset_sha256", "?"))
    else:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, version.version)
    found.lines.append(f"{name}@{CHAMPION_ALIAS}: repaired, {shown} -> v{version.version}, the published artifact "
                       f"(sha256 {sha[:12]})")

"""`python -m infra.deploy` against moto's S3: what the dry run prints, what it uploads, and
what it refuses before uploading anything. The sam commands are never executed here."""

from __future__ import annotations

import hashlib
import os
import shlex
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from infra import deploy, sam
from infra.artifact import ARTIFACT_NAME
from latentlens.handler.schema import fingerprint_file

BUCKET = "latentlens-test-artifacts"
REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


@pytest.fixture
def no_sam(monkeypatch):
    """sam is never run; a call would be a bug in the dry run."""
    monkeypatch.setattr(sam, "missing_tools", lambda: [])

    def refuse(cmd, cwd):
        raise AssertionError(f"sam was run: {cmd}")

    monkeypatch.setattr(sam, "run", refuse)


@pytest.fixture
def built(tmp_path) -> tuple[Path, str]:
    """A fake artifact (random bytes: deploy never opens it) and its manifest, as the build writes them."""
    path = tmp_path / "artifacts" / ARTIFACT_NAME
    path.parent.mkdir()
    path.write_bytes(os.urandom(300_000))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (path.parent / (ARTIFACT_NAME + ".sha256")).write_text(f"{digest}  {ARTIFACT_NAME}\n")
    return path, digest


def _deploy(capsys, *args: str) -> tuple[int, str, str]:
    rc = deploy.main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def _keys(s3) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def _printed_command(out: str, name: str) -> list[str]:
    [line] = [line for line in out.splitlines() if f"] {name}" in line]
    return shlex.split(line.split("$ ", 1)[1])


def test_s3_dry_run_uploads_content_addressed_and_prints_the_sam_commands(s3, no_sam, built, tmp_path, capsys):
    path, digest = built
    code = tmp_path / "code"
    (code / "artifact").mkdir(parents=True)
    (code / "artifact" / ARTIFACT_NAME).write_bytes(b"stale copy from an earlier bundled deploy")

    rc, out, err = _deploy(capsys, "--mode", "s3", "--bucket", BUCKET, "--artifact", str(path),
                           "--code-dir", str(code), "--stack-name", "ll-test", "--dry-run")

    assert rc == 0, err
    key = f"latentlens/{digest}/{ARTIFACT_NAME}"
    assert f"s3://{BUCKET}/{key}  uploaded" in out
    # uploaded for real (to moto), byte for byte, with the manifest beside it
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert (hashlib.sha256(body).hexdigest() == digest
            == path.with_name(ARTIFACT_NAME + ".sha256").read_text().split()[0])
    manifest = s3.get_object(Bucket=BUCKET, Key=key + ".sha256")["Body"].read().decode()
    assert manifest == f"{digest}  {ARTIFACT_NAME}\n# fingerprint {fingerprint_file(path)}\n"
    assert s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]["sha256"] == digest
    assert sorted(_keys(s3)) == [key, key + ".sha256"]
    # s3 mode ships no artifact in the package
    assert not (code / "artifact").exists()
    # the sam commands, printed and not run
    assert _printed_command(out, "sam build") == ["sam", "build", "--template", "template.yaml",
                                                  "--build-dir", ".aws-sam/build"]
    cmd = _printed_command(out, "sam deploy")
    assert cmd[:2] == ["sam", "deploy"]
    assert cmd[cmd.index("--stack-name") + 1] == "ll-test"
    assert cmd[cmd.index("--capabilities") + 1] == "CAPABILITY_IAM"
    overrides = cmd[cmd.index("--parameter-overrides") + 1:]
    assert overrides == ["ArtifactMode=s3", f"ArtifactBucket={BUCKET}", f"ArtifactKey={key}", "TmpStorageMB=512",
                         "SnapStart=PublishedVersions"]
    assert "printed, not run" in out
    assert "--key <previous key>" in out


def test_rerun_with_the_same_artifact_skips_the_upload(s3, no_sam, built, tmp_path, capsys, monkeypatch):
    path, digest = built
    args = ("--mode", "s3", "--bucket", BUCKET, "--artifact", str(path), "--code-dir", str(tmp_path / "code"),
            "--dry-run")
    assert _deploy(capsys, *args)[0] == 0

    def no_upload(*a, **k):
        raise AssertionError("re-uploaded an artifact that was already stored")

    client = boto3.client("s3", region_name=REGION)
    client.upload_file = no_upload
    client.put_object = no_upload
    monkeypatch.setattr(deploy, "s3_client", lambda region: client)
    rc, out, err = _deploy(capsys, *args)
    assert rc == 0, err
    assert "already present with the same sha256, skipped the re-upload" in out
    assert f"ArtifactKey=latentlens/{digest}/{ARTIFACT_NAME}" in out


def test_a_different_file_under_the_same_key_is_refused_not_overwritten(s3, no_sam, built, tmp_path, capsys):
    path, digest = built
    key = f"latentlens/{digest}/{ARTIFACT_NAME}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"something else")
    rc, out, err = _deploy(capsys, "--mode", "s3", "--bucket", BUCKET, "--artifact", str(path),
                           "--code-dir", str(tmp_path / "code"), "--dry-run")
    assert rc == 2
    assert "is not this artifact" in err
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"something else"
    assert "sam deploy" not in out


def test_missing_artifact_is_refused_before_any_upload(s3, no_sam, tmp_path, capsys):
    rc, out, err = _deploy(capsys, "--mode", "s3", "--bucket", BUCKET, "--artifact", str(tmp_path / "nope.duckdb"),
                           "--code-dir", str(tmp_path / "code"), "--dry-run")
    assert rc == 2
    assert "not found" in err and "latentlens build" in err
    assert _keys(s3) == []
    assert "sam build" not in out


def test_artifact_not_matching_its_manifest_is_refused_before_any_upload(s3, no_sam, built, tmp_path, capsys):
    path, _ = built
    with open(path, "r+b") as fh:  # one flipped byte, as a truncated or rewritten file would be
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    rc, out, err = _deploy(capsys, "--mode", "s3", "--bucket", BUCKET, "--artifact", str(path),
                           "--code-dir", str(tmp_path / "code"), "--dry-run")
    assert rc == 2
    assert "does not match its manifest" in err
    assert _keys(s3) == []


def test_missing_manifest_is_refused(s3, no_sam, built, tmp_path, capsys):
    path, _ = built
    path.with_name(ARTIFACT_NAME + ".sha256").unlink()
    rc, _, err = _deploy(capsys, "--mode", "s3", "--bucket", BUCKET, "--artifact", str(path),
                         "--code-dir", str(tmp_path / "code"), "--dry-run")
    assert rc == 2 and "no manifest" in err
    assert _keys(s3) == []


def test_bundled_dry_run_stages_the_verified_artifact_into_the_package(no_sam, built, tmp_path, capsys):
    path, digest = built
    code = tmp_path / "code"
    with mock_aws():
        rc, out, err = _deploy(capsys, "--artifact", str(path), "--code-dir", str(code), "--dry-run",
                               "--parameter", "ThrottlingRateLimit=20")
        assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []  # no S3 in bundled mode
    assert rc == 0, err
    staged = code / "artifact" / ARTIFACT_NAME
    assert staged.read_bytes() == path.read_bytes()
    assert staged.stat().st_mode & 0o777 == 0o644  # Lambda's non-root user must be able to read it
    assert (code / "artifact" / (ARTIFACT_NAME + ".sha256")).read_text() == \
        f"{digest}  {ARTIFACT_NAME}\n# fingerprint {fingerprint_file(staged)}\n"
    cmd = _printed_command(out, "sam deploy")
    assert cmd[cmd.index("--parameter-overrides") + 1:] == ["ArtifactMode=bundled", "TmpStorageMB=512",
                                                            "SnapStart=PublishedVersions", "ThrottlingRateLimit=20"]
    assert [p.name for p in (code / "artifact").iterdir() if p.name.startswith(".")] == []  # no partial copy left


def test_rollback_deploys_a_stored_key_without_uploading(s3, no_sam, built, tmp_path, capsys):
    path, digest = built
    code = tmp_path / "code"
    assert _deploy(capsys, "--mode", "s3", "--bucket", BUCKET, "--artifact", str(path), "--code-dir", str(code),
                   "--dry-run")[0] == 0
    key = f"latentlens/{digest}/{ARTIFACT_NAME}"

    rc, out, err = _deploy(capsys, "--mode", "s3", "--bucket", BUCKET, "--key", key, "--code-dir", str(code),
                           "--dry-run")
    assert rc == 0, err
    cmd = _printed_command(out, "sam deploy")
    assert f"ArtifactKey={key}" in cmd

    rc, out, err = _deploy(capsys, "--mode", "s3", "--bucket", BUCKET,
                           "--key", "latentlens/" + "0" * 64 + "/latentlens.duckdb",
                           "--code-dir", str(code), "--dry-run")
    assert rc == 2 and "does not exist" in err
    assert "sam deploy" not in out

    rc, out, _ = _deploy(capsys, "--bucket", BUCKET, "--list")
    assert rc == 0 and key in out


def test_missing_bucket_is_refused_unless_asked_to_create_it(no_sam, built, tmp_path, capsys):
    path, _ = built
    args = ("--mode", "s3", "--bucket", "not-yet-there", "--artifact", str(path), "--code-dir", str(tmp_path / "code"),
            "--dry-run")
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        rc, _, err = _deploy(capsys, *args)
        assert rc == 2 and "--create-bucket" in err
        assert client.list_buckets()["Buckets"] == []

        rc, _, err = _deploy(capsys, *args, "--create-bucket")
        assert rc == 0, err
        block = client.get_public_access_block(Bucket="not-yet-there")["PublicAccessBlockConfiguration"]
        assert all(block.values())
        assert client.get_bucket_location(Bucket="not-yet-there")["LocationConstraint"] == REGION


def test_real_run_runs_exactly_the_printed_commands_in_the_repo_root(s3, built, tmp_path, capsys, monkeypatch):
    path, _ = built
    ran: list[tuple[list[str], Path]] = []
    monkeypatch.setattr(sam, "missing_tools", lambda: [])
    monkeypatch.setattr(sam, "run", lambda cmd, cwd: ran.append((cmd, cwd)))
    rc, out, err = _deploy(capsys, "--mode", "s3", "--bucket", BUCKET, "--artifact", str(path),
                           "--code-dir", str(tmp_path / "code"))
    assert rc == 0, err
    printed = [_printed_command(out, name) for name in ("sam build", "compile", "sam deploy")]
    assert [cmd for cmd, _ in ran] == printed
    assert printed[1][:3] == ["python3.12", "-m", "compileall"] and printed[1][-1] == ".aws-sam/build/LookupFunction"
    assert {cwd for _, cwd in ran} == {Path(deploy.__file__).resolve().parents[1]}
    assert "printed, not run" not in out


def test_real_run_without_sam_stops_before_uploading(s3, built, tmp_path, capsys, monkeypatch):
    path, _ = built
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # neither sam nor python3.12
    problems = sam.missing_tools()
    assert any("pipx install aws-sam-cli" in p for p in problems)
    assert any("python3.12" in p for p in problems)
    rc, _, err = _deploy(capsys, "--mode", "s3", "--bucket", BUCKET, "--artifact", str(path),
                         "--code-dir", str(tmp_path / "code"))
    assert rc == 2 and "aws-sam-cli" in err
    assert _keys(s3) == []


@pytest.mark.parametrize(("size", "expected"), [(0, 512), (300 * 2**20, 512), (400 * 2**20, 528), (2 * 2**30, 2176)])
def test_tmp_storage_fits_the_downloaded_artifact(size, expected):
    assert deploy.tmp_storage_mb(size) == expected
    # Lambda refuses SnapStart beside more than 512 MB of /tmp: the deploy turns it off there
    assert deploy.with_tmp_storage(expected)["SnapStart"] == ("PublishedVersions" if expected == 512 else "None")


def test_bad_option_combinations_exit_2(capsys):
    for args in (["--mode", "s3"], ["--key", "a/b"], ["--mode", "s3", "--bucket", "Bad_Bucket"]):
        with pytest.raises(SystemExit) as exc:
            deploy.main(args)
        assert exc.value.code == 2


def test_dynamodb_mode_publishes_then_deploys_with_the_name_and_a_dry_run_publishes_nothing(tmp_path, capsys,
                                                                                             monkeypatch):
    from tests.handler.fixture_artifact import build_fixture_artifact

    (tmp_path / "artifacts").mkdir()
    path = build_fixture_artifact(tmp_path / "artifacts" / ARTIFACT_NAME)
    args = ("--mode", "dynamodb", "--dynamodb-name", "latentlens-test", "--artifact", str(path),
            "--code-dir", str(tmp_path / "code"))
    ran: list[list[str]] = []
    monkeypatch.setattr(sam, "missing_tools", lambda: [])
    monkeypatch.setattr(sam, "run", lambda cmd, cwd: ran.append(cmd))
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        rc, out, err = _deploy(capsys, *args, "--dry-run")
        assert rc == 0, err
        assert ddb.list_tables()["TableNames"] == [] and ran == []  # a flip would serve at once: not in a dry run
        assert f"latentlens publish dynamodb {path} --name latentlens-test" in out

        rc, out, err = _deploy(capsys, *args)
        assert rc == 0, err
        pointer = ddb.get_item(TableName="latentlens-test", Key={"pk": {"S": "current"}})["Item"]
        assert pointer["table"]["S"].startswith("latentlens-test.") and pointer["version"]["N"] == "1"
    cmd = _printed_command(out, "sam deploy")
    assert cmd[cmd.index("--parameter-overrides") + 1:] == ["ArtifactMode=dynamodb", "DynamoDBName=latentlens-test",
                                                           "TmpStorageMB=512", "SnapStart=PublishedVersions"]
    assert ran[-1] == cmd
    assert "--rollback" in out


def test_dynamodb_mode_needs_a_name(capsys):
    with pytest.raises(SystemExit) as exc:
        deploy.main(["--mode", "dynamodb"])
    assert exc.value.code == 2 and "--dynamodb-name" in capsys.readouterr().err

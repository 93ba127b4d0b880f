"""`latentlens publish dynamodb` against an endpoint that never answers, or a closed port: one line, exit 2, within
--timeout (not botocore's 60 s read timeout times 8 attempts); the S3 staging of --via-s3 the same; nothing written.

Real parts: a listener on 127.0.0.1 that accepts and never answers, a port nothing listens on, moto's server.
"""

from __future__ import annotations

import time

import boto3
import pytest
from moto.server import ThreadedMotoServer

from latentlens.build.publish.settings import PublishSettings
from latentlens.cli import main
from tests.handler.dynamo_support import NAME
from tests.reliability.conftest import free_port

pytestmark = pytest.mark.usefixtures("fake_aws_credentials")
TIMEOUT_S = 1.5


def run(capsys, *argv: str) -> tuple[int, str, float]:
    capsys.readouterr()
    started = time.monotonic()
    code = main(list(argv))
    return code, capsys.readouterr().err, time.monotonic() - started


def assert_one_line(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("latentlens: error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in errors[0], err


@pytest.mark.parametrize("command", ["publish", "--status", "--rollback"])
@pytest.mark.parametrize("where", ["silent", "closed"])
def test_an_endpoint_that_never_answers_is_one_line_exit_2_within_the_timeout(artifact, capsys, silent_server,
                                                                             where, command) -> None:
    endpoint = silent_server if where == "silent" else f"http://127.0.0.1:{free_port()}"
    extra = [] if command == "publish" else [command]
    code, err, elapsed = run(capsys, "publish", "dynamodb", str(artifact), "--name", NAME, "--endpoint-url",
                             endpoint, "--timeout", str(TIMEOUT_S), *extra)
    assert_one_line(code, err, f"DynamoDB did not answer within {TIMEOUT_S:g} s at {endpoint}",
                    "ReadTimeoutError" if where == "silent" else "EndpointConnectionError")
    assert TIMEOUT_S * 0.8 <= elapsed < TIMEOUT_S + 3, elapsed


def test_s3_staging_that_never_answers_is_one_line_exit_2_and_no_table_is_left(artifact, capsys, monkeypatch,
                                                                              silent_server) -> None:
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", silent_server)
        ddb = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}")
        before = set(ddb.list_tables()["TableNames"])
        code, err, elapsed = run(capsys, "publish", "dynamodb", str(artifact), "--name", NAME, "--via-s3",
                                 "s3://staging/imports", "--timeout", str(TIMEOUT_S))
        assert_one_line(code, err, f"S3 did not answer within {TIMEOUT_S:g} s", "ReadTimeoutError")
        assert elapsed < TIMEOUT_S + 5, elapsed
        assert set(ddb.list_tables()["TableNames"]) - before <= {NAME}  # the pointer table at most, no build table
    finally:
        moto.stop()


def test_every_call_has_connect_and_read_timeouts_and_bounded_attempts() -> None:
    from latentlens.build.publish.dynamodb import make_client

    settings = PublishSettings(source=None, name=NAME, region="us-east-1")
    assert settings.deadline_s <= 30
    for service in ("dynamodb", "s3"):
        config = make_client(settings, service).meta.config
        assert (config.connect_timeout, config.read_timeout) == (settings.connect_timeout_s, settings.read_timeout_s)
        assert config.retries["total_max_attempts"] == settings.max_attempts

"""Settings come from LATENTLENS_* variables when asked for, never at import; the entry is Mangum without lifespan."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from latentlens.handler.settings import Settings, get_settings


def test_environment_prefix(monkeypatch):
    monkeypatch.setenv("LATENTLENS_DB", "s3://bucket/key.duckdb")
    monkeypatch.setenv("LATENTLENS_S3_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("LATENTLENS_CACHE_MAX_AGE", "60")
    s = Settings()
    assert (s.db, s.s3_max_attempts, s.cache_max_age) == ("s3://bucket/key.duckdb", 5, 60)
    assert s.tmp_dir == "/tmp/latentlens-handler" and s.verify_checksum is True


def test_get_settings_is_cached_and_resettable(monkeypatch):
    get_settings.cache_clear()
    monkeypatch.setenv("LATENTLENS_DB", "/a.duckdb")
    try:
        assert get_settings() is get_settings() and get_settings().db == "/a.duckdb"
    finally:
        get_settings.cache_clear()


def test_invalid_values_are_refused():
    with pytest.raises(ValidationError):
        Settings(s3_max_attempts=0)


def test_lambda_entry_is_mangum_with_lifespan_off():
    from mangum import Mangum

    import latentlens.handler.app
    from latentlens.handler.lambda_entry import LambdaEntry

    entry = latentlens.handler.app.handler
    assert isinstance(entry, LambdaEntry)  # the event check in front of Mangum
    assert isinstance(entry.mangum, Mangum) and entry.mangum.lifespan == "off" and entry.mangum.app is entry.app

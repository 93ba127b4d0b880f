"""One error shape for every failure: `{"error": {"code": ..., "message": ...}}`, never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from latentlens.handler.answers import AnswerError
from latentlens.handler.models import Documented

logger = logging.getLogger("latentlens.handler")

NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}  # nosniff: a 500 skips NoSniff


class ErrorDetail(Documented):
    code: str
    message: str


class ErrorResponse(Documented):
    error: ErrorDetail


class ApiError(Exception):
    """An error the client should see as-is: HTTP status, a stable code and a human message."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers  # e.g. a 401's WWW-Authenticate


def error_response(status: int, code: str, message: str, extra: dict | None = None,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    body: dict = {"error": {"code": code, "message": message}}
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers={**(headers or {}), **NO_STORE})


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path"))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")  # our validators' own words
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts) or "invalid request"


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception to the JSON error shape; unexpected ones are logged, not shown."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers)

    @app.exception_handler(AnswerError)
    async def _answer_error(_: Request, exc: AnswerError) -> JSONResponse:  # a rule of handler.answers: 422 or 404
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_parameter", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(exc.status_code, code, message, headers=exc.headers)  # e.g. a 405's Allow

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "internal error")


# Documented on every route so the OpenAPI schema matches what clients really get.
ERROR_RESPONSES: dict[int | str, dict] = {
    422: {"model": ErrorResponse, "description": "invalid parameter"},
    503: {"model": ErrorResponse, "description": "artifact unavailable"},
}

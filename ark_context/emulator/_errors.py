"""Ark-shaped API errors raised inside the emulator's request handling."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_TYPES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


class EmulatorError(ValueError):
    """Bad input to an emulator method or admin endpoint (a usage error, not an API error).

    >>> from ark_context.emulator import Emulator
    >>> Emulator().advance_clock(-1)
    Traceback (most recent call last):
    ...
    ark_context.emulator._errors.EmulatorError: advance_clock needs seconds >= 0, got -1
    """


class ApiError(Exception):
    """An error the emulator answers with an Ark error body.

    >>> ApiError(404, "NotFound.Context", "gone").status
    404
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        param: str = "",
        *,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.retry_after = retry_after

    def body(self, request_id: str) -> bytes:
        """The JSON error body, with the request id appended to the message like Ark does."""
        return json.dumps(
            {
                "error": {
                    "code": self.code,
                    "message": f"{self.message} Request id: {request_id}",
                    "param": self.param,
                    "type": error_type(self.status),
                }
            },
            ensure_ascii=False,
        ).encode()


def error_type(status: int) -> str:
    """The ``type`` field Ark puts in an error body for an HTTP status."""
    return _TYPES.get(status, "InternalServerError" if status >= 500 else "BadRequest")


def missing(field: str) -> ApiError:
    return ApiError(
        400,
        f"MissingParameter.{field}",
        f"The request failed because it is missing one or multiple required parameters: {field}.",
        field,
    )


def invalid(field: str, why: str) -> ApiError:
    return ApiError(
        400,
        "InvalidParameter",
        f"The parameter `{field}` specified in the request is not valid: {why}.",
        field,
    )


def required_model(body: Mapping[str, Any]) -> str:
    """The request's ``model``: a non-empty string, else ``MissingParameter``/``InvalidParameter``."""
    model = body.get("model")
    if model is None:
        raise missing("model")
    if not isinstance(model, str) or not model:
        raise invalid("model", "must be a non-empty string")
    return model


def unsupported(field: str, why: str = "it is not supported by the Context API") -> ApiError:
    return ApiError(
        400,
        "InvalidParameter.UnsupportedParameter",
        f"The parameter `{field}` specified in the request is not supported: {why}.",
        field,
    )


def context_not_found(context_id: str) -> ApiError:
    return ApiError(
        404,
        "NotFound.Context",
        f"The specified context {context_id} is not found or expired.",
        "context_id",
    )


def context_busy() -> ApiError:
    return ApiError(
        403,
        "OperationDenied.InvalidState",
        "The specified context is in invalid state: InProgress.",
        "context_id",
    )


def default_fault_error(status: int) -> ApiError:
    """The Ark error a status fault answers with when no code/message is given."""
    if status == 429:
        return ApiError(
            429,
            "RateLimitExceeded.EndpointRPMExceeded",
            "The request has exceeded the rate limit. Please retry after a while.",
            retry_after="1",
        )
    if status == 403:
        return context_busy()
    if status == 404:
        return ApiError(
            404, "NotFound.Context", "The specified context is not found or expired.", "context_id"
        )
    if status == 401:
        return ApiError(401, "AuthenticationError", "The API key in the request is invalid.")
    if status == 400:
        return ApiError(400, "InvalidParameter", "The request is not valid (injected fault).")
    if status == 502:
        return ApiError(502, "BadGateway", "The upstream service returned an invalid response.")
    if status == 503:
        return ApiError(503, "ServiceUnavailable", "The service is temporarily unavailable.")
    return ApiError(
        status, "InternalServiceError", "The service encountered an unexpected internal error."
    )


def missing_emulator_extra(exc: ImportError) -> ModuleNotFoundError:
    """The error for a missing starlette/uvicorn: it names the extra to install (the
    emulator imports nothing from ark_context, so it words this itself)."""
    return ModuleNotFoundError(
        "The Ark emulator needs the 'emulator' extra: pip install 'ark-context[emulator]' "
        f"(missing: {exc.name or exc}).",
        name=exc.name,
    )

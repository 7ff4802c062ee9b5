"""OpenAPI (IMM, ICE) error answers: handlers raise :class:`OpenApiError`, the gateway renders
``{"RequestId", "HostId", "Code", "Message", "Recommend"}`` as JSON with its HTTP status.

The SDK turns a 4xx into ``ClientException`` and a 5xx into ``ServerException``, both with
``code`` = ``Code`` and ``statusCode`` = the status. Codes the services document are used as
they are (``ResourceNotFound``, ``InvalidParameter``, ``Throttling.User``); where no code is
documented for a situation (a batch in the wrong state for an action) the emulator names
one and keeps the documented wording in the message.
"""

from __future__ import annotations


class OpenApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def invalid_parameter(name: str, detail: str) -> OpenApiError:
    return OpenApiError(
        400, "InvalidParameter", f"The specified parameter {name} is not valid: {detail}"
    )


def missing_parameter(name: str) -> OpenApiError:
    return OpenApiError(
        400,
        "MissingParameter",
        f"The input parameter {name} that is mandatory for processing this request is not "
        "supplied.",
    )


def not_found(what: str, name: str) -> OpenApiError:
    return OpenApiError(
        404, "ResourceNotFound", f"The specified resource {what} {name} is not found."
    )


def throttled() -> OpenApiError:
    return OpenApiError(400, "Throttling.User", "Request was denied due to user flow control.")


def invalid_state(message: str) -> OpenApiError:
    return OpenApiError(400, "InvalidState", message)

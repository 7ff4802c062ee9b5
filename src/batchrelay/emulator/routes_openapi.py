"""The IMM and ICE OpenAPI on the emulator's port, beside its MNS API.

The official SDKs send RPC-style calls as ``POST /`` with the action in ``x-acs-action``,
the API version in ``x-acs-version``, parameters in the query string (reads) or a form
body (changes), signed with ``ACS3-HMAC-SHA256`` (``openapi_auth``). A request that
carries ``x-acs-action`` is the gateway's; every other request goes on to the MNS API
unchanged. Answers are JSON; errors are ``{RequestId, HostId, Code, Message, Recommend}``
with the service's status (``openapi_errors``).

Besides the services' actions, version ``batchrelay-emulator`` takes the simulator's
snapshots (``PutBatch``, ``PutBatchMediaProducingJob``, JSON bodies, same signature): the
simulator registers every batch it sends notifications about, so the emulator answers
with the state those notifications describe, including the ones it chose to lose.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from batchrelay.emulator.cloud import CloudState
from batchrelay.emulator.config import EmulatorConfig
from batchrelay.emulator.openapi_auth import OpenApiVerifier
from batchrelay.emulator.openapi_errors import OpenApiError, invalid_parameter, missing_parameter

log = structlog.get_logger(__name__)

IMM_VERSION = "2020-09-30"
ICE_VERSION = "2020-11-09"
EMULATOR_VERSION = "batchrelay-emulator"


class OpenApi:
    """The gateway's state: who may call, and the records the calls read and change."""

    def __init__(self, cloud: CloudState, verifier: OpenApiVerifier, host_id: str) -> None:
        self.cloud = cloud
        self.verifier = verifier
        self.host_id = host_id


OPENAPI = web.AppKey("batchrelay.emulator.openapi", OpenApi)
Params = Mapping[str, str]
Action = Callable[[CloudState, Params, Any], dict[str, Any]]


@web.middleware
async def openapi_gateway(request: web.Request, handler: Handler) -> web.StreamResponse:
    action = request.headers.get("x-acs-action")
    if action is None:
        return await handler(request)
    return await _serve(request, action, request.headers.get("x-acs-version", ""))


async def _serve(request: web.Request, action: str, version: str) -> web.Response:
    gateway = request.app[OPENAPI]
    request_id = str(uuid.uuid4()).upper()
    try:
        body = await request.read()
        query = list(request.query.items())
        gateway.verifier.verify(request.method, request.path, query, request.headers, body)
        found = ACTIONS.get((version, action))
        if found is None:
            raise OpenApiError(
                404,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            )
        if version != EMULATOR_VERSION:
            gateway.cloud.calls[action] += 1
            gateway.cloud.check_throttle()
        params = dict(query) | _form(request, body)
        answer = found(gateway.cloud, params, _json(request, body))
    except OpenApiError as exc:
        return _error(exc, request_id, gateway.host_id)
    except web.HTTPRequestEntityTooLarge:
        too_big = OpenApiError(413, "RequestTooLarge", "The request body is too large.")
        return _error(too_big, request_id, gateway.host_id)
    except Exception:
        log.exception("emulator.openapi.crashed", action=action)
        crash = OpenApiError(
            500, "InternalError", "The request processing has failed due to some unknown error."
        )
        return _error(crash, request_id, gateway.host_id)
    return web.json_response({"RequestId": request_id, **answer})


def _form(request: web.Request, body: bytes) -> dict[str, str]:
    if request.content_type != "application/x-www-form-urlencoded" or not body:
        return {}
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
    except (UnicodeDecodeError, ValueError):
        raise invalid_parameter("body", "not a form") from None


def _json(request: web.Request, body: bytes) -> Any:
    if request.content_type != "application/json" or not body:
        return None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise invalid_parameter("body", "not JSON") from None


def _error(exc: OpenApiError, request_id: str, host_id: str) -> web.Response:
    body = {
        "RequestId": request_id,
        "HostId": host_id,
        "Code": exc.code,
        "Message": exc.message,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={exc.code}&requestId={request_id}",
    }
    return web.json_response(body, status=exc.status)


# -- actions ------------------------------------------------------------------------------


def _need(params: Params, name: str) -> str:
    value = params.get(name)
    if not value:
        raise missing_parameter(name)
    return value


def _json_param(params: Params, name: str) -> Any:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise invalid_parameter(name, "not JSON") from None


def list_batches(cloud: CloudState, params: Params, _: Any) -> dict[str, Any]:
    return cloud.list_imm(_need(params, "ProjectName"), "batch", params)


def list_triggers(cloud: CloudState, params: Params, _: Any) -> dict[str, Any]:
    return cloud.list_imm(_need(params, "ProjectName"), "trigger", params)


def get_batch(cloud: CloudState, params: Params, _: Any) -> dict[str, Any]:
    return cloud.get_batch(_need(params, "ProjectName"), _need(params, "Id"))


def suspend_batch(cloud: CloudState, params: Params, _: Any) -> dict[str, Any]:
    cloud.suspend_batch(_need(params, "ProjectName"), _need(params, "Id"))
    return {}


def resume_batch(cloud: CloudState, params: Params, _: Any) -> dict[str, Any]:
    cloud.resume_batch(_need(params, "ProjectName"), _need(params, "Id"))
    return {}


def update_batch(cloud: CloudState, params: Params, _: Any) -> dict[str, Any]:
    changes = {}
    for name in ("Actions", "Input", "Tags"):
        value = _json_param(params, name)
        if value is not None:
            changes[name] = value
    cloud.update_batch(_need(params, "ProjectName"), _need(params, "Id"), changes)
    return {}


def list_jobs(cloud: CloudState, params: Params, _: Any) -> dict[str, Any]:
    return cloud.list_jobs(params)


def get_job(cloud: CloudState, params: Params, _: Any) -> dict[str, Any]:
    return cloud.get_job(_need(params, "JobId"))


def _snapshot(body: Any) -> tuple[dict[str, Any], tuple[int, int]]:
    if not isinstance(body, dict) or not isinstance(body.get("Object"), dict):
        raise invalid_parameter("body", 'a JSON object with "Object" and "Order" is required')
    order = body.get("Order")
    if not (isinstance(order, list) and len(order) == 2 and all(isinstance(n, int) for n in order)):
        raise invalid_parameter("Order", "[simulated epoch ms, sequence] is required")
    return body["Object"], (order[0], order[1])


def put_batch(cloud: CloudState, params: Params, body: Any) -> dict[str, Any]:
    record, order = _snapshot(body)
    kind = body.get("Kind", "batch")
    project = body.get("ProjectName")
    if kind not in ("batch", "trigger") or not isinstance(project, str) or not project:
        raise invalid_parameter("ProjectName/Kind", "a project and batch or trigger are required")
    return {"Kept": cloud.put_batch(project, kind, record, order)}


def put_job(cloud: CloudState, params: Params, body: Any) -> dict[str, Any]:
    record, order = _snapshot(body)
    return {"Kept": cloud.put_job(record, order)}


ACTIONS: dict[tuple[str, str], Action] = {
    (IMM_VERSION, "ListBatches"): list_batches,
    (IMM_VERSION, "ListTriggers"): list_triggers,
    (IMM_VERSION, "GetBatch"): get_batch,
    (IMM_VERSION, "SuspendBatch"): suspend_batch,
    (IMM_VERSION, "ResumeBatch"): resume_batch,
    (IMM_VERSION, "UpdateBatch"): update_batch,
    (ICE_VERSION, "ListBatchMediaProducingJobs"): list_jobs,
    (ICE_VERSION, "GetBatchMediaProducingJob"): get_job,
    (EMULATOR_VERSION, "PutBatch"): put_batch,
    (EMULATOR_VERSION, "PutBatchMediaProducingJob"): put_job,
}


def openapi_for(config: EmulatorConfig, clock: Callable[[], float]) -> OpenApi:
    """The gateway of an emulator: its access keys, its clock, empty records."""
    keys = {key: secret.get_secret_value() for key, secret in config.access_keys.items()}
    verifier = OpenApiVerifier(keys, config.max_date_skew, clock)
    return OpenApi(CloudState(clock), verifier, config.base_url())

"""The official IMM and ICE SDK clients, awaited without blocking, failures classified once.

The SDKs' ``*_async`` methods send with aiohttp, so they run on the event loop. Two things
keep them from blocking it: no SDK retry options are set (its retry backoff sleeps with
``time.sleep``), and calls on one client go one at a time (a credential refresh holds a
``threading.Lock`` across an await; a second caller on the same thread would block the
loop waiting for it). Every call is bounded by ``timeout`` (connect and read each) and a
hard deadline around the whole call.

Everything the SDK raises becomes :class:`~batchrelay.errors.CloudApiError` with a closed
``reason``:
``throttled`` (``Throttling*`` codes, or the SDK's ``ThrottlingException``), ``auth_error``
(unknown key, wrong signature, no permission), ``not_found``, ``client_error``,
``server_error`` (5xx) and ``connection`` (no answer). Nothing past this module catches
SDK exceptions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal, TypeVar

from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.models import Config as CredentialConfig
from alibabacloud_ice20201109 import models as ice_models
from alibabacloud_ice20201109.client import Client as IceClient
from alibabacloud_imm20200930 import models as imm_models
from alibabacloud_imm20200930.client import Client as ImmClient
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ThrottlingException
from alibabacloud_tea_openapi.utils_models import Config as OpenApiConfig

from batchrelay.cloudapi.config import ApiConfig, CloudCredentials, IceApiConfig, ImmApiConfig
from batchrelay.errors import CloudApiError

T = TypeVar("T")
BatchKind = Literal["batch", "trigger"]

_AUTH_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "IncompleteSignature",
               "InvalidTimeStamp", "SignatureNonceUsed", "Forbidden", "NoPermission",
               "InvalidSecurityToken")  # fmt: skip


def classify(exc: Exception) -> CloudApiError:
    if isinstance(exc, CloudApiError):
        return exc
    if not isinstance(exc, AlibabaCloudException):
        return CloudApiError("connection", "", type(exc).__name__)
    code = str(exc.code or "")
    message = _service_message(exc)
    status = int(exc.status_code or 0)
    if isinstance(exc, ThrottlingException) or code.startswith("Throttling"):
        after = getattr(exc, "retry_after", None)
        return CloudApiError("throttled", code, message, float(after) / 1000 if after else None)
    if code.startswith(_AUTH_CODES) or status in (401, 403):
        return CloudApiError("auth_error", code, message)
    if status == 404:
        return CloudApiError("not_found", code, message)
    return CloudApiError("server_error" if status >= 500 else "client_error", code, message)


def _service_message(exc: AlibabaCloudException) -> str:
    """The service's own ``Message`` (the SDK prefixes it with the status and appends the
    request id)."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict) and isinstance(data.get("Message"), str):
        return str(data["Message"])
    return str(exc.message or "")


def credential_client(credentials: CloudCredentials) -> CredentialClient:
    secret = credentials.access_key_secret
    config = CredentialConfig(
        type=credentials.kind,
        access_key_id=credentials.access_key_id,
        access_key_secret=secret.get_secret_value() if secret is not None else None,
        role_arn=credentials.role_arn,
        role_session_name=credentials.role_session_name,
        sts_endpoint=credentials.sts_endpoint,
        role_name=credentials.ecs_ram_role,
    )
    return CredentialClient(config)


def openapi_config(config: ApiConfig, product: str) -> OpenApiConfig:
    timeout_ms = int(config.timeout * 1000)
    return OpenApiConfig(
        credential=credential_client(config.credentials),
        endpoint=config.host(product),
        protocol=config.protocol,
        region_id=config.region,
        connect_timeout=timeout_ms,
        read_timeout=timeout_ms,
    )


@dataclass
class _Caller:
    """Runs one SDK call at a time, bounded, turning failures into :class:`CloudApiError`."""

    timeout: float

    def __post_init__(self) -> None:
        self._lock = asyncio.Lock()

    async def __call__(self, call: Callable[[], Awaitable[T]]) -> T:
        async with self._lock:
            try:
                async with asyncio.timeout(self.timeout * 2 + 1):
                    return await call()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the SDK's whole exception tree ends here
                raise classify(exc) from None


class ImmApi:
    """The IMM calls batchrelay makes; results are the service's own JSON objects."""

    def __init__(self, config: ImmApiConfig, client: ImmClient | None = None) -> None:
        self.config = config
        self.client = client or ImmClient(openapi_config(config, "imm"))
        self._call = _Caller(config.timeout)

    async def list(self, project: str, kind: BatchKind) -> AsyncIterator[dict[str, Any]]:
        """Every batch (or trigger) of ``project``, following ``NextToken`` (bounded)."""
        token: str | None = None
        for _ in range(self.config.max_pages):
            page = await self._page(project, kind, token)
            for item in page.get("Batches" if kind == "batch" else "Triggers") or []:
                yield item
            token = page.get("NextToken") or None
            if token is None:
                return

    async def _page(self, project: str, kind: BatchKind, token: str | None) -> dict[str, Any]:
        if kind == "batch":
            batches = imm_models.ListBatchesRequest(
                project_name=project, max_results=100, next_token=token
            )
            response: Any = await self._call(lambda: self.client.list_batches_async(batches))
        else:
            triggers = imm_models.ListTriggersRequest(
                project_name=project, max_results=100, next_token=token
            )
            response = await self._call(lambda: self.client.list_triggers_async(triggers))
        body: dict[str, Any] = response.body.to_map()
        return body

    async def get_batch(self, project: str, batch_id: str) -> dict[str, Any]:
        request = imm_models.GetBatchRequest(project_name=project, id=batch_id)
        response: Any = await self._call(lambda: self.client.get_batch_async(request))
        batch: dict[str, Any] = response.body.to_map().get("Batch") or {}
        return batch

    async def suspend(self, project: str, batch_id: str) -> None:
        request = imm_models.SuspendBatchRequest(project_name=project, id=batch_id)
        await self._call(lambda: self.client.suspend_batch_async(request))

    async def resume(self, project: str, batch_id: str) -> None:
        request = imm_models.ResumeBatchRequest(project_name=project, id=batch_id)
        await self._call(lambda: self.client.resume_batch_async(request))

    async def update(self, project: str, batch_id: str, changes: dict[str, Any]) -> None:
        """``changes`` holds any of ``Actions``, ``Input``, ``Tags`` in the service's shape."""
        request = imm_models.UpdateBatchRequest().from_map(
            {**changes, "ProjectName": project, "Id": batch_id}
        )
        await self._call(lambda: self.client.update_batch_async(request))


class IceApi:
    """The ICE calls batchrelay makes: batch media producing jobs."""

    def __init__(self, config: IceApiConfig, client: IceClient | None = None) -> None:
        self.config = config
        self.client = client or IceClient(openapi_config(config, "ice"))
        self._call = _Caller(config.timeout)

    async def list(self, since: datetime, until: datetime) -> AsyncIterator[dict[str, Any]]:
        """Every batch job created in ``[since, until]``, following ``NextToken`` (bounded)."""
        token: str | None = None
        for _ in range(self.config.max_pages):
            request = ice_models.ListBatchMediaProducingJobsRequest(
                start_time=_utc(since), end_time=_utc(until), max_results=100, next_token=token
            )
            response: Any = await self._call(partial(self._list_page, request))
            page = response.body.to_map()
            for item in page.get("EditingBatchJobList") or []:
                yield item
            token = page.get("NextToken") or None
            if token is None:
                return

    async def _list_page(self, request: Any) -> Any:
        return await self.client.list_batch_media_producing_jobs_async(request)

    async def get(self, job_id: str) -> dict[str, Any]:
        request = ice_models.GetBatchMediaProducingJobRequest(job_id=job_id)
        response: Any = await self._call(
            lambda: self.client.get_batch_media_producing_job_async(request)
        )
        job: dict[str, Any] = response.body.to_map().get("EditingBatchJob") or {}
        return job


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

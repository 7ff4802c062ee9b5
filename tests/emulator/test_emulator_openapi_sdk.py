"""The official IMM and ICE SDKs, unchanged, against the emulator's OpenAPI.

The SDKs sign with ACS3-HMAC-SHA256 and send over aiohttp; the emulator serves them on the
port of its MNS API. A wrong secret is refused the way the service refuses it: 400
SignatureDoesNotMatch, which the SDK raises as ``ClientException``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.models import Config as CredentialConfig
from alibabacloud_ice20201109 import models as ice_models
from alibabacloud_ice20201109.client import Client as IceClient
from alibabacloud_imm20200930 import models as imm_models
from alibabacloud_imm20200930.client import Client as ImmClient
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils_models import Config
from mns.queue import QueueMeta

from batchrelay.emulator import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, RunningEmulator

PROJECT = "docs-prod"


def config(
    emu: RunningEmulator, secret: str = DEFAULT_ACCESS_KEY_SECRET, key: str = DEFAULT_ACCESS_KEY_ID
) -> Config:
    credential = CredentialClient(
        CredentialConfig(type="access_key", access_key_id=key, access_key_secret=secret)
    )
    host = emu.url.removeprefix("http://")
    return Config(credential=credential, endpoint=host, protocol="http", region_id="cn-hangzhou")


def batch(number: int, state: str = "Running", **extra: Any) -> dict[str, Any]:
    return {
        "Id": f"batch-{number:04d}",
        "State": state,
        "Statistic": {"SubmitSuccess": number, "SubmitFailure": 1, "SkipFiles": 0},
        "Tags": {"team": "docs" if number % 2 else "media"},
        "CreateTime": f"2026-11-20T02:{number // 60:02d}:{number % 60:02d}Z",
        "UpdateTime": f"2026-11-20T03:{number // 60:02d}:{number % 60:02d}Z",
        **extra,
    }


def register(emu: RunningEmulator, *batches: dict[str, Any], kind: str = "batch") -> None:
    for order, body in enumerate(batches):
        emu.cloud.put_batch(PROJECT, kind, body, (1, order))  # type: ignore[arg-type]


async def test_list_batches_pages_with_next_token(emu: RunningEmulator) -> None:
    register(emu, *(batch(n) for n in range(1, 8)))
    client = ImmClient(config(emu))
    seen: list[str] = []
    token = None
    while True:
        request = imm_models.ListBatchesRequest(
            project_name=PROJECT, max_results=3, next_token=token, sort="CreateTime", order="ASC"
        )
        response = await client.list_batches_async(request)
        seen += [b.id for b in response.body.batches]
        assert response.body.request_id
        token = response.body.next_token
        if not token:
            break
    assert seen == [f"batch-{n:04d}" for n in range(1, 8)]
    first = (
        await client.list_batches_async(
            imm_models.ListBatchesRequest(project_name=PROJECT, max_results=1)
        )
    ).body.batches[0]
    assert first.id == "batch-0007"  # CreateTime, DESC by default
    assert first.statistic.submit_success == 7 and first.tags == {"team": "docs"}


async def test_list_filters_by_state_and_tag(emu: RunningEmulator) -> None:
    register(emu, batch(1), batch(2, "Failed"), batch(3, "Failed"))
    client = ImmClient(config(emu))
    failed = await client.list_batches_async(
        imm_models.ListBatchesRequest(
            project_name=PROJECT, state="Failed", tag_selector="team=docs"
        )
    )
    assert [b.id for b in failed.body.batches] == ["batch-0003"]


async def test_triggers_are_listed_apart(emu: RunningEmulator) -> None:
    register(emu, batch(1))
    register(emu, {**batch(2), "Id": "trigger-0002"}, kind="trigger")
    client = ImmClient(config(emu))
    triggers = await client.list_triggers_async(
        imm_models.ListTriggersRequest(project_name=PROJECT)
    )
    assert [t.id for t in triggers.body.triggers] == ["trigger-0002"]


async def test_get_suspend_resume_update(emu: RunningEmulator) -> None:
    register(emu, batch(1), batch(2, "Failed"))
    client = ImmClient(config(emu))
    get = imm_models.GetBatchRequest(project_name=PROJECT, id="batch-0001")
    await client.suspend_batch_async(
        imm_models.SuspendBatchRequest(project_name=PROJECT, id="batch-0001")
    )
    assert (await client.get_batch_async(get)).body.batch.state == "Suspended"
    await client.resume_batch_async(
        imm_models.ResumeBatchRequest(project_name=PROJECT, id="batch-0001")
    )
    resumed = (await client.get_batch_async(get)).body.batch
    assert resumed.state == "Running" and resumed.update_time > "2026-11-20T03:00:01Z"
    update = imm_models.UpdateBatchRequest(
        project_name=PROJECT, id="batch-0002", tags={"team": "fixed"}
    )
    await client.update_batch_async(update)
    updated = emu.cloud.get_batch(PROJECT, "batch-0002")["Batch"]
    assert updated["Tags"] == {"team": "fixed"} and updated["State"] == "Failed"


async def test_update_of_a_running_batch_is_refused(emu: RunningEmulator) -> None:
    register(emu, batch(1))
    client = ImmClient(config(emu))
    with pytest.raises(ClientException) as caught:
        await client.update_batch_async(
            imm_models.UpdateBatchRequest(project_name=PROJECT, id="batch-0001", tags={"a": "b"})
        )
    assert caught.value.status_code == 400
    assert "only when its status is Ready or Failed" in caught.value.message


async def test_unknown_batch_and_project_are_not_found(emu: RunningEmulator) -> None:
    register(emu, batch(1))
    client = ImmClient(config(emu))
    for project, batch_id in ((PROJECT, "batch-9999"), ("nope", "batch-0001")):
        with pytest.raises(ClientException) as caught:
            await client.get_batch_async(
                imm_models.GetBatchRequest(project_name=project, id=batch_id)
            )
        assert (caught.value.status_code, caught.value.code) == (404, "ResourceNotFound")


async def test_a_wrong_secret_is_refused_as_the_service_refuses_it(emu: RunningEmulator) -> None:
    register(emu, batch(1))
    client = ImmClient(config(emu, secret="not-the-secret"))
    with pytest.raises(ClientException) as caught:
        await client.list_batches_async(imm_models.ListBatchesRequest(project_name=PROJECT))
    assert (caught.value.status_code, caught.value.code) == (400, "SignatureDoesNotMatch")
    assert "Specified signature does not match our calculation" in caught.value.message
    assert "not-the-secret" not in str(caught.value)


async def test_an_unknown_key_is_not_found(emu: RunningEmulator) -> None:
    client = ImmClient(config(emu, key="LTAI-unknown"))
    with pytest.raises(ClientException) as caught:
        await client.list_batches_async(imm_models.ListBatchesRequest(project_name=PROJECT))
    assert (caught.value.status_code, caught.value.code) == (404, "InvalidAccessKeyId.NotFound")


async def test_throttling_answers_the_next_calls(emu: RunningEmulator) -> None:
    register(emu, batch(1))
    emu.cloud.throttle(1)
    client = ImmClient(config(emu))
    request = imm_models.ListBatchesRequest(project_name=PROJECT)
    with pytest.raises(ClientException) as caught:
        await client.list_batches_async(request)
    assert caught.value.code == "Throttling.User"
    assert len((await client.list_batches_async(request)).body.batches) == 1


def job(number: int, status: str = "Finished") -> dict[str, Any]:
    return {
        "JobId": f"{number:032x}",
        "JobType": "Script",
        "Status": status,
        "CreateTime": f"2026-11-20T02:00:{number:02d}Z",
        "ModifiedTime": f"2026-11-20T02:10:{number:02d}Z",
        "SubJobList": [
            {"JobId": f"{number:030x}01", "Status": "Success", "MediaId": "m1", "ProjectId": "p1"},
            {"JobId": f"{number:030x}02", "Status": "Failed", "ErrorCode": "InvalidParameter"},
        ],
    }


async def test_ice_batch_jobs_list_and_get(emu: RunningEmulator) -> None:
    for number in range(1, 4):
        emu.cloud.put_job(job(number, "Processing" if number == 2 else "Finished"), (1, number))
    client = IceClient(config(emu))
    listed = await client.list_batch_media_producing_jobs_async(
        ice_models.ListBatchMediaProducingJobsRequest(
            start_time="2026-11-20T00:00:00Z", end_time="2026-11-21T00:00:00Z", max_results=2
        )
    )
    assert [j.job_id for j in listed.body.editing_batch_job_list] == [f"{3:032x}", f"{2:032x}"]
    assert listed.body.next_token
    got = await client.get_batch_media_producing_job_async(
        ice_models.GetBatchMediaProducingJobRequest(job_id=f"{2:032x}")
    )
    assert got.body.editing_batch_job.status == "Processing"
    assert [s.status for s in got.body.editing_batch_job.sub_job_list] == ["Success", "Failed"]


async def test_mns_requests_are_untouched(emu: RunningEmulator, sdk: Any) -> None:
    account = sdk()
    await asyncio.to_thread(account.get_queue("still-mns").create, QueueMeta())
    assert "still-mns" in emu.backend.queues

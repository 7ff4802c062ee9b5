"""Settings of the sources: the MNS queues to consume (``sources.mns_queues``) and the push
endpoints with their signature checks (the ``ingress`` section)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from batchrelay.sources.eventbridge_auth import EventBridgeAuthConfig
from batchrelay.sources.ice_auth import IceAuthConfig
from batchrelay.sources.mns_signature import MnsPushAuthConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MnsQueueConfig(BaseModel):
    """One queue to consume."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str  # http(s)://{AccountId}.mns.{region}.aliyuncs.com
    queue: str
    access_key_id: str
    access_key_secret: SecretStr
    pollers: int = Field(2, ge=1, le=32)
    batch_size: int = Field(16, ge=1, le=16)
    wait_seconds: int = Field(10, ge=0, le=30)
    visibility_timeout: int = Field(60, ge=1, le=43200)  # what a slow message is extended to
    extend_after: float = Field(20.0, gt=0)
    max_dequeue_count: int = Field(10, ge=1)
    backoff_initial: float = Field(0.5, gt=0)
    backoff_max: float = Field(30.0, gt=0)


class MnsPushIngress(MnsPushAuthConfig):
    enabled: bool = True


class EventBridgeIngress(EventBridgeAuthConfig):
    enabled: bool = True


class IceIngress(IceAuthConfig):
    enabled: bool = True


class IngressConfig(_Section):
    mns_push: MnsPushIngress = MnsPushIngress()
    eventbridge: EventBridgeIngress = EventBridgeIngress()
    ice: IceIngress = IceIngress()

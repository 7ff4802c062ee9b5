"""Settings of ``sources.imm_api`` and ``sources.ice_api``: where the APIs are, with which
credentials, what to list and how often.

Credentials go through ``alibabacloud-credentials``: an access key, that key assuming a RAM
role (``role_arn``), or the RAM role of the ECS instance the daemon runs on
(``ecs_ram_role``). Secrets are ``SecretStr`` and come from ``${ENV}`` in the file.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CloudCredentials(Section):
    """Exactly one way in: ``access_key_id`` + ``access_key_secret`` (optionally assuming
    ``role_arn`` with them), or ``ecs_ram_role``."""

    access_key_id: str | None = None
    access_key_secret: SecretStr | None = None
    role_arn: str | None = None  # acs:ram::{account}:role/{name}, assumed through STS
    role_session_name: str = "batchrelay"
    sts_endpoint: str | None = None  # default: the SDK's (sts.aliyuncs.com)
    ecs_ram_role: str | None = None  # the instance's RAM role name

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        key = self.access_key_id is not None or self.access_key_secret is not None
        if self.ecs_ram_role is not None:
            if key or self.role_arn is not None:
                raise ValueError("ecs_ram_role stands alone: remove the access key and role_arn")
            return self
        if not (self.access_key_id and self.access_key_secret):
            raise ValueError("give access_key_id and access_key_secret, or ecs_ram_role")
        return self

    @property
    def kind(self) -> Literal["access_key", "ram_role_arn", "ecs_ram_role"]:
        if self.ecs_ram_role is not None:
            return "ecs_ram_role"
        return "ram_role_arn" if self.role_arn else "access_key"


class ApiConfig(Section):
    """What both APIs share."""

    region: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    endpoint: str | None = None  # host[:port]; default {product}.{region}.aliyuncs.com
    protocol: Literal["https", "http"] = "https"  # http only for a local emulator
    credentials: CloudCredentials
    interval: float = Field(300.0, gt=0, le=86_400)  # seconds between reconciliations
    timeout: float = Field(10.0, gt=0, le=120)  # per API call, connect and read each
    max_pages: int = Field(100, ge=1, le=10_000)  # per listing and pass: a bound, not a goal
    backoff_max: float = Field(600.0, gt=0)  # longest wait after throttling

    def host(self, product: str) -> str:
        return self.endpoint or f"{product}.{self.region}.aliyuncs.com"


class ImmApiConfig(ApiConfig):
    """IMM: batches (and triggers) of these projects."""

    projects: list[str] = Field(min_length=1)
    triggers: bool = True  # also list triggers (ListTriggers)


class IceApiConfig(ApiConfig):
    """ICE: batch media producing jobs created in the last ``lookback_days``."""

    lookback_days: int = Field(7, ge=1, le=30)  # ICE lists at most 30 days at a time

"""``sources.imm_api`` / ``sources.ice_api``: one way in for credentials, errors that name the
key and never show a secret, and the SDK credential each way builds (without any call)."""

from __future__ import annotations

from typing import Any

import pytest

from batchrelay.cloudapi.clients import credential_client
from batchrelay.cloudapi.config import CloudCredentials
from batchrelay.config import from_mapping
from batchrelay.errors import ConfigError

KEY = {"access_key_id": "LTAI-id", "access_key_secret": "s3cret-value"}


def imm(credentials: dict[str, Any], **extra: Any) -> dict[str, Any]:
    section = {"region": "cn-shanghai", "projects": ["docs-prod"], "credentials": credentials}
    return {"sources": {"imm_api": section | extra}}


@pytest.mark.parametrize(
    ("credentials", "kind"),
    [(KEY, "access_key"), (KEY | {"role_arn": "acs:ram::1:role/relay"}, "ram_role_arn"),
     ({"ecs_ram_role": "relay"}, "ecs_ram_role")],
)  # fmt: skip
def test_each_way_in_builds_its_credential(credentials: dict[str, Any], kind: str) -> None:
    settings = from_mapping(imm(credentials))
    assert settings.sources.imm_api is not None
    given = settings.sources.imm_api.credentials
    assert given.kind == kind
    assert credential_client(given).cloud_credential.get_type() == kind


@pytest.mark.parametrize(
    "credentials",
    [{}, {"access_key_id": "LTAI-id"}, {**KEY, "ecs_ram_role": "relay"}],
)
def test_credentials_need_exactly_one_way_in(credentials: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"sources\.imm_api\.credentials") as caught:
        from_mapping(imm(credentials))
    assert "s3cret-value" not in str(caught.value)


def test_projects_are_required_and_unknown_keys_refused() -> None:
    with pytest.raises(ConfigError, match="projects"):
        from_mapping(imm(KEY, projects=[]))
    with pytest.raises(ConfigError, match=r"sources\.imm_api\.colour: unknown key"):
        from_mapping(imm(KEY, colour="red"))


def test_the_default_endpoint_is_the_regional_one() -> None:
    settings = from_mapping(imm(KEY))
    assert settings.sources.imm_api is not None
    assert settings.sources.imm_api.host("imm") == "imm.cn-shanghai.aliyuncs.com"
    assert "s3cret-value" not in repr(CloudCredentials(**KEY))  # type: ignore[arg-type]

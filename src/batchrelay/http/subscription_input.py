"""What the subscription API accepts: request bodies checked into subscriptions.

Bodies are strict JSON objects (unknown fields are errors, every error names its field);
``filter`` is checked as routes' ``match`` is, ``secret`` as a ``whsec_`` key, the URL by
the egress policy (scheme and literal addresses here; its resolved address at create and
again at every send). Bounds keep one subscription small.
"""

from __future__ import annotations

import base64
import re
import secrets
import uuid
from dataclasses import replace
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from batchrelay.http.common import BadQuery
from batchrelay.notifiers.config import signing_key
from batchrelay.notifiers.subscription import RESERVED_HEADERS
from batchrelay.routing.patterns import PatternError
from batchrelay.routing.subscriptions import check_filter, check_kinds
from batchrelay.routing.tree import parse_duration
from batchrelay.store.subscriptions import Secret, Subscription

MAX_HEADERS = 20
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}")
_Text = Annotated[str, Field(max_length=1000)]


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(gt=0, le=1_000_000)
    seconds: float = Field(gt=0, le=86400)


class _Fields(BaseModel):
    """What create and update share. Only the fields given count (``model_fields_set``):
    an update changes those and keeps the rest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: Annotated[str, Field(max_length=2048)] = ""
    description: _Text = ""
    filter: dict[str, Any] = Field(default_factory=dict)
    kinds: Annotated[list[str], Field(max_length=16)] = Field(default_factory=list)
    headers: dict[str, Annotated[str, Field(max_length=4096)]] = Field(default_factory=dict)
    rate_limit: RateLimit | None = None  # null: no limit of its own
    enabled: bool = True
    metadata: dict[str, _Text] = Field(default_factory=dict)

    @field_validator("filter", "kinds")
    @classmethod
    def _patterns(cls, value: Any, info: ValidationInfo) -> Any:
        check = check_filter if info.field_name == "filter" else check_kinds
        try:
            check(value)
        except PatternError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_HEADERS:
            raise ValueError(f"at most {MAX_HEADERS} headers")
        for name, text in value.items():
            if not _HEADER_NAME.fullmatch(name) or name.lower() in RESERVED_HEADERS:
                raise ValueError(f"{name!r} is not a header a subscription may set")
            if "\r" in text or "\n" in text:
                raise ValueError(f"the value of {name!r} holds a line break")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 50:
            raise ValueError("at most 50 metadata keys")
        return value


class CreateBody(_Fields):
    url: Annotated[str, Field(max_length=2048)]  # required here
    secret: str = ""  # absent: one is made

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        signing_key(value)  # ValueError naming what is wrong, never the value
        return value


class UpdateBody(_Fields):
    pass


class RotateBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: str = ""  # absent: one is made
    overlap: Annotated[float, Field(ge=0)] | str = ""  # seconds, or such as 1h; "": default

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        signing_key(value)
        return value


def parsed(model: type[BaseModel], body: Any) -> Any:
    """``body`` as ``model``; a ``BadQuery`` (400) naming each bad field."""
    if not isinstance(body, dict):
        raise BadQuery("the body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "body"
            if error["type"] == "extra_forbidden":
                problems.append(f"{where}: unknown field")
            else:
                problems.append(f"{where}: {str(error['msg']).removeprefix('Value error, ')}")
        raise BadQuery("; ".join(problems)) from None


def overlap_seconds(value: float | str, default: float) -> float:
    if value == "":
        return default
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise BadQuery(f"overlap: {exc}") from None
    if seconds > 30 * 86400:
        raise BadQuery("overlap: at most 30 days")
    return seconds


def new_secret() -> str:
    """A fresh ``whsec_`` secret: 24 random bytes, base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def new_subscription(body: CreateBody, now: int) -> tuple[Subscription, str]:
    """A subscription made of ``body`` at ``now``, and its secret (given or made)."""
    secret = body.secret or new_secret()
    base = Subscription(
        id="sub_" + uuid.uuid4().hex[:24],
        url=body.url,
        secrets=(Secret(secret),),
        created_at=now,
        updated_at=now,
    )
    return changed_by(base, body), secret


def changed_by(sub: Subscription, body: CreateBody | UpdateBody) -> Subscription:
    """``sub`` with the fields ``body`` gives (only those)."""
    given = body.model_dump(exclude_unset=True, exclude={"secret"})
    if "rate_limit" in given:
        limit = body.rate_limit
        given["rate_limit"] = (limit.count, limit.seconds) if limit else None
    if "kinds" in given:
        given["kinds"] = tuple(given["kinds"])
    if given.get("enabled") is True:
        given["disabled_reason"] = None
    elif given.get("enabled") is False:
        given["disabled_reason"] = "disabled by hand"
    return replace(sub, **given)

"""Fields every receiver config shares. Each channel's own model lives in its module.

``rate_limits`` is data for the dispatcher: the platform's send budget as (count, seconds)
windows, all of which must hold. Defaults are the platform's published limits; a receiver
may tighten or loosen them in config.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from batchrelay.delivery.policy import BreakerConfig, RetryConfig
from batchrelay.delivery.templates import check_syntax

#: One send budget window: at most ``count`` messages per ``seconds``.
RateLimit = tuple[Annotated[int, Field(gt=0)], Annotated[float, Field(gt=0)]]


class ChannelConfig(BaseModel):
    """Common to all receivers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str | None = None  # Jinja2 source replacing the default body/message
    timeout: float = Field(10.0, gt=0, le=300)  # seconds for one send, all attempts aside
    rate_limits: tuple[RateLimit, ...] = ()  # () = no platform budget
    # A message carries at most ``max_events`` events (more make more messages), and the
    # default templates list up to ``max_failures`` of them: by default every one, so a
    # burst's digests together name every failure.
    max_events: int = Field(100, ge=1, le=1000)
    max_failures: int = Field(100, ge=0, le=1000)
    retry: RetryConfig = RetryConfig()
    breaker: BreakerConfig = BreakerConfig()
    fallback: str | None = None  # receiver that gets what this one dead-letters

    @field_validator("template")
    @classmethod
    def _template_syntax(cls, value: str | None) -> str | None:
        if value is not None:
            check_syntax(value)
        return value


class TitledConfig(ChannelConfig):
    """A receiver that shows a title: chat header, email subject, alert summary."""

    title: str | None = None  # Jinja2 source; default "{kind} {batch_key}: {state}"

    @field_validator("title")
    @classmethod
    def _title_syntax(cls, value: str | None) -> str | None:
        if value is not None:
            check_syntax(value)
        return value


class ChatConfig(TitledConfig):
    """A chat webhook: the URL carries the token, so it is a secret as a whole."""

    url: SecretStr

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        return require_http_url(value)


def require_http_url(value: SecretStr) -> SecretStr:
    """Accept only absolute http(s) URLs; the message never repeats the value."""
    if not value.get_secret_value().startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value

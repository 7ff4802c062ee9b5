"""Receiver settings: the fields every receiver shares, each channel's model, and the
:data:`ReceiverConfig` union of them (discriminated by ``type``). Pure models: importing
this module loads no platform SDK and no template engine (templates are checked lazily).

``rate_limits`` is data for the dispatcher: the platform's send budget as (count, seconds)
windows, all of which must hold. Defaults are the platform's published limits; a receiver
may tighten or loosen them in config.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    field_validator,
    model_validator,
)


def check_syntax(source: str) -> None:
    """Raise ``ValueError`` naming the line when ``source`` is not a valid template."""
    # imported here: the template engine loads when a template is configured, not with config
    from batchrelay.notifiers.templates import check_syntax as check

    check(source)


class RetryConfig(BaseModel):
    """Per receiver: exponential backoff with full jitter, bounded by attempts and by age."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(10, ge=1, le=1000)
    max_age: float = Field(6 * 3600.0, gt=0)  # seconds since the first attempt
    initial_delay: float = Field(1.0, gt=0)
    max_delay: float = Field(300.0, gt=0)


class BreakerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    failures: int = Field(5, ge=1)  # consecutive failures that open the breaker
    cooldown: float = Field(30.0, gt=0)  # seconds open before one probe is let through
    max_cooldown: float = Field(600.0, gt=0)  # the cooldown doubles after each failed probe


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


# ------------------------------------------------------------ alertmanager


LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class AlertmanagerConfig(TitledConfig):
    type: Literal["alertmanager"]
    url: SecretStr  # base URL, e.g. http://alertmanager:9093 (may carry user:password@)
    bearer_token: SecretStr | None = None
    labels: dict[str, str] = Field(default_factory=dict)  # static labels on every alert
    generator_url: str | None = None  # batchrelay's base URL: links go to /batches/{key}
    resolve_after: float = Field(900.0, gt=0, le=7 * 86400)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        return require_http_url(value)

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(name for name in value if not LABEL_NAME.match(name))
        if bad:
            raise ValueError(f"not Prometheus label names: {bad}")
        return value


# ------------------------------------------------------------ dingtalk


#: Longest text sent; DingTalk refuses messages over 20000 bytes (460101).
DINGTALK_MAX_BYTES = 18_000


class DingTalkConfig(ChatConfig):
    type: Literal["dingtalk"]
    secret: SecretStr | None = None  # the SEC… key of 加签; none = keyword or IP security
    at_mobiles: tuple[str, ...] = ()
    at_all: bool = False
    rate_limits: tuple[RateLimit, ...] = ((20, 60.0),)
    max_bytes: int = Field(DINGTALK_MAX_BYTES, ge=500, le=20_000)


# ------------------------------------------------------------ discord


class DiscordConfig(ChatConfig):
    type: Literal["discord"]
    rate_limits: tuple[RateLimit, ...] = ((5, 2.0), (30, 60.0))
    username: str | None = Field(None, max_length=80)  # overrides the webhook's name


# ------------------------------------------------------------ lark


LARK_MAX_BYTES = 18_000  # of card text, leaving room for the envelope under the 20 KB body limit


class LarkConfig(ChatConfig):
    type: Literal["lark"]
    secret: SecretStr | None = None  # the signature-verification secret, if enabled
    rate_limits: tuple[RateLimit, ...] = ((5, 1.0), (100, 60.0))
    max_bytes: int = Field(LARK_MAX_BYTES, ge=500, le=19_000)


# ------------------------------------------------------------ log


class LogReceiverConfig(TitledConfig):
    type: Literal["log"]


# ------------------------------------------------------------ mns_topic


class MnsTopicConfig(ChannelConfig):
    type: Literal["mns_topic"]
    endpoint: str  # http(s)://{AccountId}.mns.{region}.aliyuncs.com
    topic: str = Field(min_length=1, max_length=256)
    access_key_id: str
    access_key_secret: SecretStr
    message_tag: str = Field("", max_length=16)


# ------------------------------------------------------------ null


class NullConfig(ChannelConfig):
    type: Literal["null"]


# ------------------------------------------------------------ slack


class SlackConfig(ChatConfig):
    type: Literal["slack"]
    rate_limits: tuple[RateLimit, ...] = ((1, 1.0),)
    max_sections: int = Field(10, ge=1, le=45)  # Slack allows 50 blocks in a message


# ------------------------------------------------------------ smtp


class EmailConfig(TitledConfig):
    type: Literal["email"]
    host: str
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str  # the From address
    to: tuple[str, ...] = Field(min_length=1)
    html_template: str | None = None
    ca_file: str | None = None  # extra trusted CA bundle (PEM)
    rate_limits: tuple[RateLimit, ...] = ()

    @field_validator("html_template")
    @classmethod
    def _html_syntax(cls, value: str | None) -> str | None:
        if value is not None:
            check_syntax(value)
        return value

    @model_validator(mode="after")
    def _credentials(self) -> EmailConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        if self.password is not None and self.security == "none":
            raise ValueError("a password needs security: starttls or tls")
        return self


# ------------------------------------------------------------ teams


TEAMS_MAX_BYTES = 24_000  # of card text, under the 28 KB message limit with the envelope


class TeamsConfig(ChatConfig):
    type: Literal["teams"]
    rate_limits: tuple[RateLimit, ...] = ((4, 1.0),)
    max_bytes: int = Field(TEAMS_MAX_BYTES, ge=1000, le=26_000)


# ------------------------------------------------------------ telegram


class TelegramConfig(TitledConfig):
    type: Literal["telegram"]
    bot_token: SecretStr
    chat_id: int | str  # numeric id, or "@channelusername"
    message_thread_id: int | None = None
    disable_notification: bool = False
    api_url: str = "https://api.telegram.org"  # a local Bot API server, or a test server
    rate_limits: tuple[RateLimit, ...] = ((20, 60.0),)
    max_messages: int = Field(3, ge=1, le=10)

    @field_validator("api_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


# ------------------------------------------------------------ webhook


SECRET_PREFIX = "whsec_"
RESERVED_HEADERS = frozenset(
    {"webhook-id", "webhook-timestamp", "webhook-signature", "content-length", "host"}
)


class WebhookConfig(ChannelConfig):
    type: Literal["webhook"]
    url: SecretStr
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    secret: SecretStr | None = None  # whsec_<base64 key>: Standard Webhooks signing

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        return require_http_url(value)

    @field_validator("headers")
    @classmethod
    def _own_headers(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        taken = sorted(name for name in value if name.lower() in RESERVED_HEADERS)
        if taken:
            raise ValueError(f"headers set by batchrelay cannot be configured: {taken}")
        return value

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            signing_key(value.get_secret_value())
        return value


def signing_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; ``ValueError`` (not naming it) when malformed."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX!r} followed by base64")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the part after {SECRET_PREFIX!r} is not base64") from None
    if not key:
        raise ValueError("the signing key is empty")
    return key


# ------------------------------------------------------------ wecom


WECOM_MAX_BYTES = 4096


class WeComConfig(ChatConfig):
    type: Literal["wecom"]
    rate_limits: tuple[RateLimit, ...] = ((20, 60.0),)
    max_bytes: int = Field(WECOM_MAX_BYTES, ge=200, le=WECOM_MAX_BYTES)
    max_events: int = Field(25, ge=1, le=1000)  # about what 4,096 bytes of markdown can name
    max_failures: int = Field(25, ge=0, le=1000)


ReceiverConfig = Annotated[
    WebhookConfig
    | DingTalkConfig
    | LarkConfig
    | WeComConfig
    | SlackConfig
    | TeamsConfig
    | DiscordConfig
    | TelegramConfig
    | EmailConfig
    | AlertmanagerConfig
    | MnsTopicConfig
    | LogReceiverConfig
    | NullConfig,
    Field(discriminator="type"),
]
RECEIVER_ADAPTER: TypeAdapter[ReceiverConfig] = TypeAdapter(ReceiverConfig)

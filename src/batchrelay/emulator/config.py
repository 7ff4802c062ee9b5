"""The emulator's settings: one frozen model, validated once, shared by the app and the CLI."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

#: The access key the emulator accepts when none is configured. Local use only.
DEFAULT_ACCESS_KEY_ID = "batchrelay"
DEFAULT_ACCESS_KEY_SECRET = "batchrelay-secret"  # a documented local default

#: MNS caps one message body at 64 KiB.
MAX_MESSAGE_SIZE = 65536


class FaultConfig(BaseModel):
    """Misbehaviour to inject, so consumers can be tested against an unreliable MNS.

    Every ratio is a probability in [0, 1] drawn from the emulator's seeded random source,
    so a fixed ``seed`` replays the same faults.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    duplicate_ratio: float = Field(0.0, ge=0.0, le=1.0)
    """A received message is also left visible, so it is delivered once more."""
    error_ratio: float = Field(0.0, ge=0.0, le=1.0)
    """An authenticated request is answered with 500 InternalError instead of being served."""
    latency: float = Field(0.0, ge=0.0, le=60.0)
    """Seconds added before every answer."""
    lost_delete_ratio: float = Field(0.0, ge=0.0, le=1.0)
    """A delete answers success but keeps the message; it reappears after its visibility."""


class EmulatorConfig(BaseModel):
    """Everything the emulator needs. ``port=0`` picks a free port (tests)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8090, ge=0, le=65535)
    public_url: str | None = None
    """Base URL clients use to reach the emulator; defaults to ``http://host:port``."""
    access_keys: dict[str, SecretStr] = Field(
        default_factory=lambda: {DEFAULT_ACCESS_KEY_ID: SecretStr(DEFAULT_ACCESS_KEY_SECRET)}
    )
    account_id: str = Field("1234567890123456", pattern=r"^[0-9A-Za-z-]{1,64}$")
    region: str = Field("cn-hangzhou", pattern=r"^[a-z0-9-]{1,64}$")
    queues: tuple[str, ...] = ()
    """Queues created at start, with default attributes."""
    faults: FaultConfig = Field(default_factory=FaultConfig)
    seed: int | None = None
    """Seed of the random source behind faults and retry jitter; None = unpredictable."""
    retry_scale: float = Field(1.0, gt=0.0, le=1.0)
    """Multiplies every push retry interval; tests use e.g. 0.001."""
    push_timeout: float = Field(5.0, gt=0.0, le=60.0)
    """MNS waits this long for an HTTP endpoint to answer a push."""
    max_date_skew: float = Field(900.0, gt=0.0)
    """Seconds a request's Date may differ from the emulator's clock (MNS: 15 minutes)."""
    max_body: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_message_size: int = Field(MAX_MESSAGE_SIZE, ge=1024, le=MAX_MESSAGE_SIZE)
    max_queue_messages: int = Field(200_000, ge=1)
    max_queues: int = Field(1000, ge=1)
    max_topics: int = Field(1000, ge=1)
    max_subscriptions: int = Field(100, ge=1)
    """Per topic."""
    legacy_cert: bool = False
    """Sign pushes as real MNS does: a 512-bit key in a certificate that expired in 2016."""
    max_pending_pushes: int = Field(10_000, ge=1)
    push_concurrency: int = Field(64, ge=1)

    @field_validator("access_keys")
    @classmethod
    def _keys_present(cls, keys: dict[str, SecretStr]) -> dict[str, SecretStr]:
        if not keys:
            raise ValueError("access_keys: at least one access key is required")
        return keys

    def base_url(self, port: int | None = None) -> str:
        """The URL clients use, given the port actually bound."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        return f"http://{host}:{self.port if port is None else port}"

"""The ``store`` section: which store, and how it commits, pools and leases."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from batchrelay.errors import ConfigError


class StoreConfig(BaseModel):
    """``sqlite:///path`` for one process; ``postgresql://user:password@host/db`` for several
    replicas sharing one database (put the password in ``${ENV}``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = "sqlite:///data/batchrelay.db"
    synchronous: Literal["FULL", "NORMAL"] = "FULL"  # SQLite
    max_group: int = Field(512, ge=1, le=10_000)
    queue_size: int = Field(10_000, ge=1)
    pool_min_size: int = Field(1, ge=1, le=1000)  # PostgreSQL connections
    pool_max_size: int = Field(10, ge=2, le=1000)  # the writer holds one during a commit
    connect_timeout: float = Field(10.0, gt=0, le=300)  # connecting, waiting for a connection
    lease: float = Field(15.0, ge=3, le=3600)  # seconds a replica holds the timers unrenewed

    @field_validator("url")
    @classmethod
    def _known_store(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            scheme = value.split(":", 1)[0] if ":" in value else "(none)"
            raise ValueError(f"unsupported store {scheme!r}: use sqlite:/// or postgresql://")
        return value

    @field_validator("url")
    @classmethod
    def _parsable(cls, value: str) -> str:
        """What the drivers would refuse at start, refused here (never echoing the URL: it
        may hold a password)."""
        if value.startswith("sqlite:///"):
            if not value.removeprefix("sqlite:///").strip():
                raise ValueError("a sqlite:/// URL needs a file path")
            return value
        parts = urllib.parse.urlsplit(value)
        try:
            parts.port  # noqa: B018  # raises ValueError when out of range or not a number
        except ValueError:
            raise ValueError("the port is not a number from 1 to 65535") from None
        if not parts.hostname and "host=" not in parts.query:
            raise ValueError("a postgresql:// URL needs a host")
        return value

    @model_validator(mode="after")
    def _pool(self) -> StoreConfig:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("pool_min_size is larger than pool_max_size")
        return self

    @property
    def backend(self) -> Literal["sqlite", "postgres"]:
        return "sqlite" if self.url.startswith("sqlite:///") else "postgres"

    @property
    def sqlite_path(self) -> Path:
        if self.backend != "sqlite":
            raise ConfigError("store.url: not a SQLite store")
        return Path(self.url.removeprefix("sqlite:///"))

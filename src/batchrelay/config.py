"""Settings: one YAML file, validated strictly once at load.

Unknown keys are errors, and every error message names the key (``store.synchronous``).
``${ENV_VAR}`` anywhere in a string value is replaced from the environment, so secrets stay
out of the file; ``${ENV_VAR:-default}`` supplies a default. A value that is nothing but one
reference resolving to an empty string becomes null, so ``token: ${TOKEN:-}`` means "no
token" when ``TOKEN`` is unset.

Then any key can be set from the environment, over the file: ``BATCHRELAY_<SECTION>__<KEY>``
(``BATCHRELAY_SERVER__HOST=0.0.0.0``, ``BATCHRELAY_RECEIVERS__OPS__URL=...``; names are
read case-insensitively, so receiver names are lower case), lists and mappings as JSON
(``BATCHRELAY_SOURCES__MNS_QUEUES='[{...}]'``); an empty value counts as unset.
pydantic-settings reads them; a ``BATCHRELAY_`` name that is no section is an error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from batchrelay.alerts.rules import AlertsConfig
from batchrelay.cloudapi.config import IceApiConfig, ImmApiConfig
from batchrelay.delivery.config import DeliveryConfig, SubscriptionsConfig
from batchrelay.demo.config import DemoConfig
from batchrelay.errors import ConfigError
from batchrelay.events.batchkey import BatchKeyConfig
from batchrelay.http.access import AccessConfig
from batchrelay.http.listener import ListenerConfig
from batchrelay.notifiers.config import ReceiverConfig
from batchrelay.routing.tree import RoutingConfig
from batchrelay.sources.config import IngressConfig, MnsQueueConfig
from batchrelay.store.config import StoreConfig
from batchrelay.store.retention import RetentionConfig

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(ListenerConfig):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    max_events_per_body: int = Field(1000, ge=1, le=100_000)  # more: 413, quarantined whole
    drain_timeout: float = Field(10.0, gt=0, le=300)
    # The whole stop after SIGTERM: pollers, then requests in flight (each stage within
    # drain_timeout), then the timers and the store. Past it the daemon exits anyway; what
    # was not committed was not acknowledged either, and comes again.
    stop_timeout: float = Field(25.0, gt=0, le=900)
    # The dashboard's address as people reach it (https://batchrelay.example.com): links
    # in chat and email messages point there. None: messages carry no links.
    public_url: str | None = None

    @model_validator(mode="after")
    def _stop_covers_drain(self) -> ServerConfig:
        if self.stop_timeout < self.drain_timeout:
            raise ValueError("stop_timeout must be at least drain_timeout")
        return self

    @field_validator("public_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")) or len(value.split("/")[2]) == 0:
            raise ValueError("must be an absolute http:// or https:// URL")
        return value.rstrip("/")


class ApiConfig(AccessConfig):
    """Bearer token for writes; optional read access control (see ``http/access.py``)."""


class SourcesConfig(Section):
    mns_queues: list[MnsQueueConfig] = Field(default_factory=list)
    imm_api: ImmApiConfig | None = None  # reconcile IMM batches and triggers; batch actions
    ice_api: IceApiConfig | None = None  # reconcile ICE batch media producing jobs


class LogConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    summary_interval: float = Field(10.0, gt=0, le=3600)  # seconds; console format only


class Settings(Section):
    server: ServerConfig = ServerConfig()
    api: ApiConfig = ApiConfig()
    store: StoreConfig = StoreConfig()
    ingress: IngressConfig = IngressConfig()
    sources: SourcesConfig = SourcesConfig()
    batch_key: BatchKeyConfig = BatchKeyConfig()
    receivers: dict[str, ReceiverConfig] = Field(default_factory=dict)
    routing: RoutingConfig | None = None
    delivery: DeliveryConfig = DeliveryConfig()
    alerts: AlertsConfig = AlertsConfig()
    log: LogConfig = LogConfig()
    demo: DemoConfig = DemoConfig()
    subscriptions: SubscriptionsConfig = SubscriptionsConfig()
    retention: RetentionConfig = RetentionConfig()

    @field_validator("receivers", mode="before")
    @classmethod
    def _null_type(cls, value: Any) -> Any:
        # YAML reads `type: null` as nothing at all; the null receiver is what it means.
        if not isinstance(value, dict):
            return value
        return {name: {**cfg, "type": "null"} if isinstance(cfg, dict) and "type" in cfg
                and cfg["type"] is None else cfg for name, cfg in value.items()}  # fmt: skip

    @property
    def alerting(self) -> bool:
        """Whether anything needs the alert evaluator: rules, or a digest that goes somewhere."""
        digest = self.alerts.digest
        routed = self.routing is not None or digest.receiver is not None
        return bool(self.alerts.rules) or (digest.enabled and routed)


def substitute_env(value: Any, env: dict[str, str] | None = None) -> Any:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in every string of a YAML tree."""
    env = dict(os.environ) if env is None else env
    if isinstance(value, str):
        result = _ENV_PATTERN.sub(lambda m: _lookup(m, env), value)
        whole_reference = _ENV_PATTERN.fullmatch(value) is not None
        return None if whole_reference and result == "" else result
    if isinstance(value, list):
        return [substitute_env(v, env) for v in value]
    if isinstance(value, dict):
        return {k: substitute_env(v, env) for k, v in value.items()}
    return value


def _lookup(match: re.Match[str], env: dict[str, str]) -> str:
    name, default = match.group(1), match.group(2)
    if name in env:
        return env[name]
    if default is not None:
        return default
    raise ConfigError(f"environment variable {name} is not set (referenced as ${{{name}}})")


ENV_PREFIX = "BATCHRELAY_"


def environment_overrides(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``BATCHRELAY_<SECTION>__<KEY>`` variables of ``env`` as a tree of sections."""
    from pydantic_settings import EnvSettingsSource, SettingsError

    env = os.environ if env is None else env
    source = EnvSettingsSource(
        Settings,  # type: ignore[arg-type]  # a plain model: only its fields are read
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", case_sensitive=False,
        env_ignore_empty=True,
    )  # fmt: skip
    source.env_vars = {name.lower(): value for name, value in env.items() if value}
    for name in env:
        section, nested, _ = name[len(ENV_PREFIX) :].lower().partition("__")
        ours = name.upper().startswith(ENV_PREFIX) and nested
        if ours and section not in Settings.model_fields:
            raise ConfigError(f"environment variable {name}: no section {section!r}")
    try:
        return source()
    except SettingsError as exc:  # a list or mapping that is not JSON; names the variable
        raise ConfigError(f"environment: {str(exc).partition(' from source')[0]}") from None


def _merged(tree: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``tree`` with ``overrides`` laid over it, mapping by mapping."""
    merged = dict(tree)
    for key, value in overrides.items():
        below = merged.get(key)
        if isinstance(below, dict) and isinstance(value, dict):
            value = _merged(below, value)
        merged[key] = value
    return merged


def load(path: str | Path | None, env: dict[str, str] | None = None) -> Settings:
    """Read and validate a config file, the environment's ``BATCHRELAY_`` keys over it;
    ``None`` gives the embedded defaults (and the environment's keys)."""
    if path is None:
        return from_mapping(environment_overrides(env), source="environment")
    try:
        text = Path(path).read_text(encoding="utf-8")
        tree = yaml.safe_load(text) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    overrides = environment_overrides(env)
    tree = _merged(substitute_env(tree, env), overrides)
    source = (
        f"{path} (with environment overrides of {', '.join(overrides)})" if overrides else str(path)
    )
    return from_mapping(tree, source=source)


def _check_references(settings: Settings) -> None:
    """Routes and fallbacks may only name receivers that exist."""
    names = set(settings.receivers)
    if settings.routing is not None:
        settings.routing.validate_receivers(names)
    for name, receiver in settings.receivers.items():
        if receiver.fallback is not None and receiver.fallback not in names - {name}:
            raise ConfigError(f"receivers.{name}.fallback: no other receiver {receiver.fallback!r}")
    for index, rule in enumerate(settings.alerts.rules):
        if rule.receiver is not None and rule.receiver not in names:
            raise ConfigError(f"alerts.rules[{index}].receiver: no receiver {rule.receiver!r}")
    digest = settings.alerts.digest.receiver
    if digest is not None and digest not in names:
        raise ConfigError(f"alerts.digest.receiver: no receiver {digest!r}")
    notify = settings.subscriptions.notify
    if notify is not None and notify not in names:
        raise ConfigError(f"subscriptions.notify: no receiver {notify!r}")


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: what is wrong and where (line and column, 1-based)."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def from_mapping(tree: dict[str, Any], source: str = "config") -> Settings:
    try:
        settings = Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(f"{source}: " + "; ".join(_describe(e) for e in exc.errors())) from None
    try:
        _check_references(settings)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return settings


def _describe(error: Any) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    value = error.get("input")
    # Receiver URLs often carry their token: never echo them either.
    secret = any(word in key.lower() for word in ("token", "secret", "key", "password", "url"))
    plain = not (secret or isinstance(value, dict | list) or value is None)
    shown = f" (got {redact_urls(repr(value))})" if plain else ""
    message = str(error["msg"]).removeprefix("Value error, ")  # pydantic's, not ours
    return f"{key}: {redact_urls(message)}{shown}"


_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>[^\s'\"]*)")


def redact_urls(text: str) -> str:
    """Every URL in ``text`` without its user info, query and fragment (they carry secrets:
    a webhook's access_token, a database password)."""

    def clean(match: re.Match[str]) -> str:
        rest = match["rest"]
        host_and_path = re.split(r"[?#]", rest, maxsplit=1)[0]
        if "@" in host_and_path.split("/", 1)[0]:
            host_and_path = "<redacted>@" + host_and_path.split("@", 1)[1]
        hidden = "?<redacted>" if len(host_and_path) < len(rest) else ""
        return match["scheme"] + host_and_path + hidden

    return _URL.sub(clean, text)

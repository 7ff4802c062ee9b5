"""The ``alerts`` section: rules whose conditions are checked against each batch.

A rule fires for a batch once its condition has held for ``for`` (0: at once), repeats
every ``repeat_interval`` while it holds and, with ``send_resolved``, says when it stops.
Conditions are compiled when the configuration is validated, so a bad one stops the load
with a ``ConfigError`` naming the rule and the position (see ``expr.py``).

The rules a team would start with ship in ``config/example.yaml``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from batchrelay.alerts.expr import Condition, compile_condition
from batchrelay.errors import ConfigError
from batchrelay.notifiers.config import check_syntax
from batchrelay.routing.inhibit import InhibitRule
from batchrelay.routing.tree import Duration

__all__ = [
    "AlertRuleConfig",
    "AlertsConfig",
    "DigestConfig",
    "InhibitRuleConfig",
]

Severity = Literal["info", "warning", "critical"]


class AlertRuleConfig(BaseModel):
    """One rule. ``for`` is ``for_`` here; ``compiled`` is the checked condition."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=200)
    condition: str = Field(min_length=1)
    for_: Duration = Field(0.0, alias="for")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    severity: Severity = "warning"
    receiver: str | None = Field(None, min_length=1)  # send here directly, past the routes
    repeat_interval: Duration = 4 * 3600.0
    send_resolved: bool = True
    _compiled: Condition = PrivateAttr()

    @field_validator("repeat_interval")
    @classmethod
    def _not_zero(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be longer than zero")
        return value

    @model_validator(mode="after")
    def _compile(self) -> AlertRuleConfig:
        self._compiled = compile_condition(self.condition, rule=self.name)
        for key, text in self.annotations.items():
            try:
                check_syntax(text)
            except ValueError as exc:
                raise ConfigError(f"alert rule {self.name!r}: annotations.{key}: {exc}") from None
        return self

    @property
    def compiled(self) -> Condition:
        """The condition, parsed and checked."""
        return self._compiled


class InhibitRuleConfig(BaseModel):
    """While a *source* alert fires, *target* alerts and per-task notifications that carry
    the same values for the ``equal`` labels are muted (see ``inhibit.py``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_matchers: list[str] = Field(min_length=1)
    target_matchers: list[str] = Field(min_length=1)
    equal: list[str] = Field(default_factory=list)
    _compiled: InhibitRule = PrivateAttr()

    @model_validator(mode="after")
    def _compile(self) -> InhibitRuleConfig:
        self._compiled = InhibitRule(self.source_matchers, self.target_matchers, self.equal)
        return self

    @property
    def compiled(self) -> InhibitRule:
        return self._compiled


class DigestConfig(BaseModel):
    """The completion digest sent when a batch reaches a final state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    receiver: str | None = Field(None, min_length=1)  # directly here, past the routes
    max_failures: int = Field(20, ge=0, le=1000)  # failing object paths listed


class AlertsConfig(BaseModel):
    """The ``alerts`` section: rules, inhibition, the digest, and how often to look."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: list[AlertRuleConfig] = Field(default_factory=list)
    inhibit_rules: list[InhibitRuleConfig] = Field(default_factory=list)
    digest: DigestConfig = DigestConfig()
    evaluation_interval: Duration = 30.0

    @field_validator("evaluation_interval")
    @classmethod
    def _not_zero(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be longer than zero")
        return value

    @property
    def inhibitors(self) -> list[InhibitRule]:
        """The inhibit rules, compiled."""
        return [rule.compiled for rule in self.inhibit_rules]

    @model_validator(mode="after")
    def _unique_names(self) -> AlertsConfig:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ConfigError(f"alerts.rules: the rule name {rule.name!r} is used twice")
            seen.add(rule.name)
        return self

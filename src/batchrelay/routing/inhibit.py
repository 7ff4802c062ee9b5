"""Inhibition: a firing alert mutes related notifications, with Alertmanager semantics.

Pure: no I/O. A rule mutes a *target* alert (one its ``target_matchers`` match) while some
*source* alert (one its ``source_matchers`` match) is firing and carries the same values
for every label in ``equal``; a label absent from both counts as equal (empty), as in
Alertmanager. An alert never inhibits itself, and when the target also matches the source
matchers only sources that do not match the target matchers count, so two alerts that
match both sides cannot mute each other.

The usual batchrelay rule: a batch-level ``failed`` alert mutes per-task failure
notifications of the same batch::

    InhibitRule(
        source_matchers=['alertname="batch_failed"'],
        target_matchers=['alertname=~"task_.*"'],
        equal=["batch_key"],
    )
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from batchrelay.routing.silences import Matcher, MatcherSpec, matches_all, to_matchers

_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Labels = Mapping[str, str]


@dataclass(frozen=True, init=False)
class InhibitRule:
    """Matchers may be given in the Alertmanager string form, e.g. ``'severity=~"crit.*"'``."""

    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...]

    def __init__(
        self,
        source_matchers: Iterable[MatcherSpec],
        target_matchers: Iterable[MatcherSpec],
        equal: Iterable[str] = (),
    ) -> None:
        source, target, names = (
            to_matchers(source_matchers),
            to_matchers(target_matchers),
            tuple(equal),
        )
        if not source or not target:
            raise ValueError("inhibit rule needs source_matchers and target_matchers")
        bad = [n for n in names if not _LABEL_NAME.fullmatch(n)]
        if bad:
            raise ValueError(f"inhibit rule: invalid label names in equal: {bad}")
        object.__setattr__(self, "source_matchers", source)
        object.__setattr__(self, "target_matchers", target)
        object.__setattr__(self, "equal", names)

    def mutes(self, target: Labels, sources: Iterable[Labels]) -> bool:
        """Whether one of the firing ``sources`` mutes ``target`` under this rule."""
        if not matches_all(self.target_matchers, target):
            return False
        two_sided = matches_all(self.source_matchers, target)
        return any(self._is_source_for(target, source, two_sided) for source in sources)

    def _is_source_for(self, target: Labels, source: Labels, two_sided: bool) -> bool:
        if dict(source) == dict(target) or not matches_all(self.source_matchers, source):
            return False
        if two_sided and matches_all(self.target_matchers, source):
            return False
        return all(source.get(n, "") == target.get(n, "") for n in self.equal)


def inhibited(
    target_labels: Labels,
    firing_alerts_labels: Iterable[Labels],
    rules: Iterable[InhibitRule],
) -> bool:
    """Whether any rule mutes ``target_labels``, given the labels of the alerts now firing.

    Pass only firing alerts: pending and resolved ones inhibit nothing.
    """
    sources = list(firing_alerts_labels)
    return any(rule.mutes(target_labels, sources) for rule in rules)

"""Timelines of ``test_timeline.py`` again, with the rig on PostgreSQL: the same notices at
the same times, through ``PostgresAlertStore``, the PostgreSQL outbox and the PostgreSQL
store's commit hook (``store/postgres/store.commit_hook``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.alerts import test_timeline as timeline
from tests.alerts.rig import Rig, make_rig
from tests.pg import Cluster


@pytest.fixture
async def rig(postgres_cluster: Cluster) -> AsyncIterator[Callable[..., Any]]:
    made: list[Rig] = []
    databases: list[str] = []

    async def make(*rules: dict[str, Any], **alerts: Any) -> Rig:
        tree = alerts.pop("tree", None)
        config = {"evaluation_interval": "30s", "rules": list(rules), **alerts}
        databases.append(await postgres_cluster.create_database("timeline"))
        made.append(await make_rig(databases[-1], config, tree))
        return made[-1]

    yield make
    for r in made:
        await r.store.close()
    for dsn in databases:
        await postgres_cluster.drop_database(dsn)


# the scenarios that touch every part of the alert state: silences (batch-scoped ones
# expired by a pass), inhibition, repeats, digests with their facts, forgotten alerts
test_silence_mutes_then_the_firing_notice_comes_when_it_ends = (
    timeline.test_silence_mutes_then_the_firing_notice_comes_when_it_ends
)
test_batch_scoped_silence_ends_when_the_batch_closes = (
    timeline.test_batch_scoped_silence_ends_when_the_batch_closes
)
test_inhibition_mutes_per_task_noise_of_a_failed_batch = (
    timeline.test_inhibition_mutes_per_task_noise_of_a_failed_batch
)
test_firing_repeats_every_repeat_interval_and_not_between = (
    timeline.test_firing_repeats_every_repeat_interval_and_not_between
)
test_completion_digest_once_per_finish = timeline.test_completion_digest_once_per_finish
test_ice_digest_lists_the_output_media = timeline.test_ice_digest_lists_the_output_media
test_alerts_of_a_rule_removed_from_the_config_are_forgotten = (
    timeline.test_alerts_of_a_rule_removed_from_the_config_are_forgotten
)

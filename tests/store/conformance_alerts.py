"""AlertStore conformance: alert state, dirty marks, silences, digests, one-transaction passes.

Written against the ``AlertStore`` contract only (``store/contracts.py``): each store gets its
alert state as ``store.alerts`` and marks batches dirty through its commit hooks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from batchrelay.events.models import Event, IceJobEvent
from batchrelay.routing.obligations import Router
from batchrelay.routing.silences import Matcher, Silence
from batchrelay.store.base import Store
from batchrelay.store.contracts import AlertState, AlertStore, Changes, Notice, Outbox, Status
from tests.fakes import FakeClock

from .conformance_outbox import START, route_tree
from .conformance_support import CommitHooks, StoreFactory, commit_all
from .factories import at, ice_batch, ice_job, imm_batch, imm_task

NOW = at(3600)


def alert(rule: str, batch_key: str, status: Status = "firing", since: float = 0) -> AlertState:
    return AlertState(
        rule=rule, batch_key=batch_key, labels={"alertname": rule, "team": "media"},
        status=status, active_since=at(since), fired_at=at(since + 60) if status != "pending"
        else None, resolved_at=at(since + 120) if status == "resolved" else None,
        value="3", summary=f"{rule} on {batch_key}",
    )  # fmt: skip


def silence(silence_id: str, ends_in: float, batch_key: str | None = None) -> Silence:
    return Silence(
        id=silence_id, matchers=(Matcher("alertname", "=", "task_failed"),), starts_at=NOW,
        ends_at=NOW + timedelta(seconds=ends_in), created_by="ops", comment="maintenance",
        batch_key=batch_key, expire_on_batch_close=batch_key is not None,
    )  # fmt: skip


def notice(batch_key: str, **extra: Any) -> Notice:
    view = {"event_id": f"alert:{batch_key}", "kind": "alert", "batch_key": batch_key, **extra}
    return Notice(view, route_tree().match(view, NOW))


@dataclass
class Alerting:
    """A store whose commits route events and mark their batches dirty."""

    store: Store
    alerts: AlertStore
    outbox: Outbox


class AlertStoreConformance:
    @pytest.fixture
    async def alerting(self, make_store: StoreFactory) -> Alerting:
        hooks = CommitHooks(router=Router(route_tree(), FakeClock(START)), dirty=True)
        store = await make_store(hooks=hooks)
        return Alerting(store, store.alerts, store.outbox)

    async def test_alert_states_are_saved_read_back_and_forgotten(self, alerting: Alerting) -> None:
        alerts = alerting.alerts
        first = [alert("stalled", "B"), alert("failed", "B", "pending"),
                 alert("stalled", "C", "resolved")]  # fmt: skip
        await alerts.apply(Changes(saved=first), NOW)
        later = replace(first[1], status="firing", fired_at=at(90))
        await alerts.apply(Changes(saved=[later]), NOW + timedelta(seconds=1))
        assert await alerts.states(["B", "nope"]) == {
            ("stalled", "B"): first[0], ("failed", "B"): later,
        }  # fmt: skip
        assert await alerts.states([]) == {}
        assert await alerts.alerts() == [later, first[0], first[2]]  # newest change first
        assert await alerts.alerts("firing") == [later, first[0]]
        assert await alerts.alerts(batch_key="C") == [first[2]]
        assert await alerts.alerts(rule="stalled", status="firing") == [first[0]]
        assert await alerts.alerts(limit=1) == [later]
        assert await alerts.counts() == {("stalled", "firing"): 1, ("failed", "firing"): 1,
                                         ("stalled", "resolved"): 1}  # fmt: skip
        await alerts.apply(Changes(forgotten=[("stalled", "B"), ("stalled", "C")]), NOW)
        assert await alerts.states(["B", "C"]) == {("failed", "B"): later}
        assert await alerts.counts() == {("failed", "firing"): 1}

    async def test_batches_and_the_batches_the_timer_watches(self, alerting: Alerting) -> None:
        events = [imm_batch("run", "running", 1), imm_batch("done", "succeeded", 2),
                  imm_batch("gone", "finished", 3), imm_batch("bad", "failed", 4)]  # fmt: skip
        await commit_all(alerting.store, events)
        alerts = alerting.alerts
        assert sorted(await alerts.watched_batches()) == ["bad", "run"]
        await alerts.apply(Changes(saved=[alert("late", "done"), alert("x", "gone", "resolved")]),
                           NOW)  # fmt: skip
        assert sorted(await alerts.watched_batches()) == ["bad", "done", "run"]
        found = await alerts.batches(["done", "nope", "run"])
        assert [(b.batch_key, b.state) for b in found] == [
            ("done", "succeeded"),
            ("run", "running"),
        ]

    async def test_a_pass_clears_only_the_dirty_marks_it_read(self, alerting: Alerting) -> None:
        tasks = [imm_task("t1", "running", 1, batch_key="B"), imm_task("t2", "running", 2,
                 batch_key="B"), imm_task("t3", "running", 3, batch_key="C"),
                 imm_task("orphan", "running", 4)]  # fmt: skip
        await commit_all(alerting.store, tasks)
        alerts = alerting.alerts
        marks = await alerts.dirty()
        assert set(marks) == {"B", "C"} and marks["B"] > marks["C"]
        assert len(await alerts.dirty(limit=1)) == 1
        # an event commits while the pass runs: its batch's mark changes and survives
        await commit_all(alerting.store, [imm_task("t1", "failed", 5, batch_key="B")])
        await alerts.apply(Changes(cleaned=marks), NOW)
        after = await alerts.dirty()
        assert list(after) == ["B"] and after["B"] != marks["B"]
        await alerts.apply(Changes(cleaned=after), NOW)
        assert await alerts.dirty() == {}
        await commit_all(alerting.store, [imm_task("t3", "failed", 6, batch_key="C")])
        assert list(await alerts.dirty()) == ["C"]  # marked again by the next change

    async def test_silences_are_put_listed_by_end_and_expired(self, alerting: Alerting) -> None:
        alerts = alerting.alerts
        short, long = silence("s-short", 600), silence("s-long", 7200, batch_key="B")
        await alerts.put_silence(short, NOW)
        await alerts.put_silence(long, NOW + timedelta(seconds=1))
        assert await alerts.silences() == [long, short]  # newest first
        assert await alerts.silence("s-long") == long
        assert await alerts.silence("nope") is None
        assert await alerts.silences(ended_after=NOW + timedelta(seconds=600)) == [long]
        ended = long.expire(NOW + timedelta(seconds=2))
        await alerts.put_silence(ended, NOW + timedelta(seconds=2))
        assert await alerts.silence("s-long") == ended
        assert await alerts.silences(ended_after=NOW + timedelta(seconds=2)) == [short]
        assert await alerts.silences() == [ended, short]  # an update keeps its creation
        expired = short.expire(NOW + timedelta(seconds=3))
        await alerts.apply(Changes(silences=[expired]), NOW + timedelta(seconds=3))
        assert await alerts.silences(ended_after=NOW + timedelta(seconds=3)) == []
        assert await alerts.silence("s-short") == expired

    async def test_digests_are_remembered_by_the_finish_they_reported(
        self, alerting: Alerting
    ) -> None:
        alerts = alerting.alerts
        assert await alerts.digested([]) == {}
        await alerts.apply(Changes(digests=[("B", at(100)), ("C", at(50))]), NOW)
        await alerts.apply(Changes(digests=[("B", at(200))]), NOW)
        assert await alerts.digested(["B", "C", "D"]) == {
            "B": _us(at(200)), "C": _us(at(50)),
        }  # fmt: skip

    async def test_digest_facts_list_failed_tasks_and_produced_media(
        self, alerting: Alerting
    ) -> None:
        events: list[Event] = [
            imm_task("t2", "failed", 2, batch_key="B", code="InvalidFile", object_path="a/2"),
            imm_task("t1", "failed", 1, batch_key="B", code="Timeout"),
            imm_task("t3", "succeeded", 3, batch_key="B"),
            imm_task("t4", "failed", 4, batch_key="other", code="Timeout"),
            media("j3", 3, "https://out/3.mp4"), media("j1", 1, "https://out/1.mp4"),
            media("j2", 2, ""), ice_job("j0", "failed", 0, batch_key="I", code="Bad"),
            ice_batch("I", 5),
        ]  # fmt: skip
        await commit_all(alerting.store, events)
        facts = await alerting.alerts.digest_facts("B", 10)
        assert facts.failed == [
            {"object_path": "", "task_id": "t1", "code": "Timeout", "message": "Timeout happened"},
            {"object_path": "a/2", "task_id": "t2", "code": "InvalidFile",
             "message": "InvalidFile happened"},
        ]  # fmt: skip
        assert facts.media_urls == []
        assert len((await alerting.alerts.digest_facts("B", 1)).failed) == 1
        ice = await alerting.alerts.digest_facts("I", 10)
        assert ice.media_urls == ["https://out/1.mp4", "https://out/3.mp4"]
        assert [f["task_id"] for f in ice.failed] == ["j0"]
        assert (await alerting.alerts.digest_facts("I", 1)).media_urls == ["https://out/1.mp4"]

    async def test_a_pass_writes_states_notices_digests_silences_and_marks_together(
        self, alerting: Alerting
    ) -> None:
        await commit_all(alerting.store, [imm_task("t1", "failed", 1, batch_key="B")])
        alerts, marks = alerting.alerts, await alerting.alerts.dirty()
        before = await alerting.outbox.depth()
        await alerts.apply(Changes(
            saved=[alert("failed", "B")], notices=[notice("B", notice="firing")],
            digests=[("B", at(9))], silences=[silence("s", 60)], cleaned=marks,
        ), NOW)  # fmt: skip
        assert list(await alerts.states(["B"])) == [("failed", "B")]
        assert await alerting.outbox.depth() == {**before, "events": before["events"] + 1}
        assert await alerts.digested(["B"]) == {"B": _us(at(9))}
        assert [s.id for s in await alerts.silences()] == ["s"]
        assert await alerts.dirty() == {}

    async def test_a_pass_that_fails_changes_nothing(self, alerting: Alerting) -> None:
        await commit_all(alerting.store, [imm_task("t1", "failed", 1, batch_key="B")])
        alerts = alerting.alerts
        kept = alert("stalled", "B")
        await alerts.apply(Changes(saved=[kept]), NOW)
        marks, before = await alerts.dirty(), await alerting.outbox.depth()
        broken = Changes(
            saved=[alert("failed", "B"), replace(kept, status="resolved", resolved_at=NOW)],
            forgotten=[("stalled", "B")],
            notices=[notice("B", notice="firing"), notice("B", value=object())],  # not JSON
            digests=[("B", at(9))], silences=[silence("s", 60)], cleaned=marks,
        )  # fmt: skip
        with pytest.raises(Exception):  # noqa: B017  # whichever error the store reports
            await alerts.apply(broken, NOW)
        assert await alerts.states(["B"]) == {("stalled", "B"): kept}
        assert await alerting.outbox.depth() == before
        assert await alerts.digested(["B"]) == {}
        assert await alerts.silences() == []
        assert await alerts.dirty() == marks

    async def test_an_empty_pass_writes_nothing(self, alerting: Alerting) -> None:
        await alerting.alerts.apply(Changes(), NOW)
        assert await alerting.alerts.alerts() == []


def media(job_id: str, t: float, url: str) -> IceJobEvent:
    job = ice_job(job_id, "succeeded", t, batch_key="I")
    return job.model_copy(update={"media_url": url})


def _us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=moment.tzinfo)) // timedelta(microseconds=1)

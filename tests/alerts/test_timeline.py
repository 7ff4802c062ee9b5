"""Alert timelines: inputs at time t, the notices the receiver got, inside windows.

Each test runs the real evaluator and dispatcher over a real SQLite store on a fake clock
(one tick a second); the rules are checked every 30 s by the timer and after each commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from batchrelay.alerts.evaluator import AlertEvaluator
from batchrelay.alerts.rules import AlertsConfig
from batchrelay.delivery.dispatcher import Dispatcher
from batchrelay.events.models import IceBatchJobEvent, IceJobEvent
from batchrelay.notifiers.alertmanager import AlertmanagerConfig, AlertmanagerNotifier
from batchrelay.notifiers.templates import template_or_default
from batchrelay.routing.silences import Silence
from tests.alerts.rig import START, Rig, make_rig, routes

RATIO = {"name": "failure-ratio", "condition": "failure_ratio > 0.05 && processed >= 100",
         "severity": "critical"}  # fmt: skip
FAILED = {"name": "failed", "condition": 'status in ["failed", "suspended"]',
          "severity": "critical"}  # fmt: skip
STALLED = {"name": "stalled", "condition": 'status == "running" && idle_for > duration("15m")'}
SUBMIT = {"name": "submit-failures", "condition": "submit_failure >= 10"}


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    made: list[Rig] = []

    async def make(*rules: dict[str, Any], **alerts: Any) -> Rig:
        tree = alerts.pop("tree", None)
        config = {"evaluation_interval": "30s", "rules": list(rules), **alerts}
        made.append(await make_rig(tmp_path / f"{len(made)}.db", config, tree))
        return made[-1]

    yield make
    for r in made:
        await r.store.close()


def within(t: float, start: float, end: float) -> bool:
    return start <= t <= end


async def test_for_holds_the_alert_pending_until_it_has_lasted(rig: Any) -> None:
    r = await rig(SUBMIT | {"for": "5m"})
    await r.commit(r.batch("b1", "running", failure=12))
    await r.run_until(299)
    assert r.said() == []  # pending: the condition holds, but not for 5 minutes yet
    [alert] = await r.alerts.alerts("pending")
    assert alert.rule == "submit-failures"
    await r.run_until(340)
    [(t, kind, rule, batch)] = r.said()
    assert (kind, rule, batch) == ("firing", "submit-failures", "b1")
    assert within(t, 300, 331)  # the timer looks every 30 s


async def test_a_condition_that_clears_while_pending_says_nothing(rig: Any) -> None:
    r = await rig(STALLED | {"for": "10m"})
    await r.commit(r.batch("b1", "running"))
    await r.run_until(1000)  # stalled from 900 s, pending for 10 minutes from then
    await r.commit(r.batch("b1", "running", failure=1))  # progress: no longer stalled
    await r.run_until(1800)  # (stalled again from 1901 s)
    assert r.said() == []
    assert await r.alerts.alerts() == []  # a pending alert that clears is forgotten


async def test_firing_repeats_every_repeat_interval_and_not_between(rig: Any) -> None:
    r = await rig(SUBMIT | {"repeat_interval": "1h"})
    await r.commit(r.batch("b1", "running", failure=12))
    await r.run_until(2 * 3600 + 60, step=10)
    said = r.said()
    assert [kind for _, kind, _, _ in said] == ["firing", "repeat", "repeat"]
    assert within(said[0][0], 0, 10)
    assert within(said[1][0], 3600, 3640)
    assert within(said[2][0], said[1][0] + 3600, said[1][0] + 3640)


async def test_resolves_when_the_condition_clears_and_says_so(rig: Any) -> None:
    r = await rig(STALLED)
    await r.commit(r.batch("b1", "running", success=5))
    await r.run_until(1000)
    [(fired, kind, _, _)] = r.said()
    assert kind == "firing" and within(fired, 900, 931)  # stall detection by the timer
    await r.commit(r.batch("b1", "running", success=6))
    at = r.t
    await r.run_until(at + 5)
    [_, (resolved, kind, rule, _)] = r.said()
    assert (kind, rule) == ("resolved", "stalled")
    assert within(resolved, at, at + 2)  # after the commit, not at the next timer
    [alert] = await r.alerts.alerts("resolved")
    assert alert.resolved_at is not None


async def test_send_resolved_false_resolves_quietly(rig: Any) -> None:
    r = await rig(STALLED | {"send_resolved": False})
    await r.commit(r.batch("b1", "running"))
    await r.run_until(1000)
    await r.commit(r.batch("b1", "running", success=1))
    await r.run_until(1010)
    assert [kind for _, kind, _, _ in r.said()] == ["firing"]
    assert [a.status for a in await r.alerts.alerts()] == ["resolved"]


async def test_a_batch_that_succeeds_resolves_its_alerts(rig: Any) -> None:
    r = await rig(SUBMIT)
    await r.commit(r.batch("b1", "running", failure=12))
    await r.run_until(5)
    await r.commit(r.batch("b1", "succeeded", failure=12, success=500))
    await r.run_until(10)
    assert [kind for _, kind, _, _ in r.said()] == ["firing", "resolved"]


async def test_resume_after_failed_resolves_then_a_new_failure_fires_again(rig: Any) -> None:
    r = await rig(FAILED)
    await r.commit(r.batch("b1", "running"))
    await r.run_until(10)
    await r.commit(r.batch("b1", "failed"))
    await r.run_until(20)
    await r.commit(r.batch("b1", "running"))  # the batch was resumed
    await r.run_until(30)
    await r.commit(r.batch("b1", "failed"))
    await r.run_until(40)
    said = r.said()
    assert [kind for _, kind, _, _ in said] == ["firing", "resolved", "firing"]
    assert within(said[0][0], 10, 12) and within(said[1][0], 20, 22)
    assert within(said[2][0], 30, 32)
    [alert] = await r.alerts.alerts("firing")
    assert (alert.active_since - r.at()).total_seconds() > -12  # a new alert, from 30 s on
    assert alert.fired_at == alert.active_since


async def test_silence_mutes_then_the_firing_notice_comes_when_it_ends(rig: Any) -> None:
    r = await rig(SUBMIT)
    silence = Silence.create(
        id="s1", matchers=['alertname="submit-failures"'], starts_at=r.at(),
        ends_at=r.at() + timedelta(minutes=10), created_by="ops", comment="known issue",
        now=r.at(),
    )  # fmt: skip
    await r.silence(silence)
    await r.commit(r.batch("b1", "running", failure=12))
    await r.run_until(599)
    assert r.said() == []
    [alert] = await r.alerts.alerts("firing")
    assert alert.last_notified_at is None  # fired, but nobody was told
    await r.run_until(640)
    [(t, kind, _, _)] = r.said()
    assert kind == "firing" and within(t, 600, 631)


async def test_resolution_of_an_alert_nobody_was_told_about_is_not_sent(rig: Any) -> None:
    r = await rig(SUBMIT)
    await r.silence(Silence.create(
        id="s1", matchers=['batch_key="b1"'], starts_at=r.at(),
        ends_at=r.at() + timedelta(hours=1), created_by="ops", comment="c", now=r.at(),
    ))  # fmt: skip
    await r.commit(r.batch("b1", "running", failure=12))
    await r.run_until(10)
    await r.commit(r.batch("b1", "succeeded", failure=12, success=100))
    await r.run_until(3700)
    assert r.said() == []


async def test_batch_scoped_silence_ends_when_the_batch_closes(rig: Any) -> None:
    r = await rig(SUBMIT, FAILED)
    await r.silence(Silence.create(
        id="s1", matchers=['alertname="submit-failures"'], starts_at=r.at(),
        ends_at=r.at() + timedelta(days=1), created_by="ops", comment="while it runs",
        now=r.at(), batch_key="b1", expire_on_batch_close=True,
    ))  # fmt: skip
    await r.commit(r.batch("b1", "running", failure=12), r.batch("b2", "running", failure=12))
    await r.run_until(100)
    assert [(kind, batch) for _, kind, _, batch in r.said()] == [("firing", "b2")]
    await r.commit(r.batch("b1", "failed", failure=12))
    await r.run_until(105)
    later = {(kind, rule, batch) for t, kind, rule, batch in r.said() if t >= 100}
    # the silence ended with the batch, so the alert it held back is told now, with the new one
    assert later == {("firing", "submit-failures", "b1"), ("firing", "failed", "b1")}
    [silence] = await r.alerts.silences()
    assert silence.ends_at <= r.at()


async def test_inhibition_mutes_per_task_noise_of_a_failed_batch(rig: Any) -> None:
    inhibit = [{"source_matchers": ['alertname="failed"'],
                "target_matchers": ['alertname=~"task_failed|failure-ratio"'],
                "equal": ["batch_key"]}]  # fmt: skip
    tree = routes(group_wait="30s", group_interval="30s")
    r = await rig(FAILED, RATIO, inhibit_rules=inhibit, tree=tree)
    await r.commit(r.batch("a", "running"), r.batch("b", "running"))
    await r.commit(*(r.task(key, n) for key in ("a", "b") for n in range(3)))
    await r.run_until(5)
    await r.commit(r.batch("a", "failed"))  # a's failed alert fires before its group flushes
    await r.run_until(120)
    tasks = r.task_events()
    assert len(tasks) == 3 and all(r.sink.sent)  # only b's three failures were sent
    notified = {(kind, rule, batch) for _, kind, rule, batch in r.said()}
    assert notified == {("firing", "failed", "a")}
    states = await r.delivery_states()
    assert states["inhibited"] == 3  # a's three, kept and visible, never sent


async def test_a_firing_alert_inhibits_another_alert_of_the_same_batch(rig: Any) -> None:
    inhibit = [
        {
            "source_matchers": ['alertname="failed"'],
            "target_matchers": ['alertname="submit-failures"'],
            "equal": ["batch_key"],
        }
    ]
    r = await rig(FAILED, SUBMIT, inhibit_rules=inhibit)  # fmt: skip
    await r.commit(r.batch("a", "failed", failure=20), r.batch("b", "running", failure=20))
    await r.run_until(10)
    assert {(rule, batch) for _, _, rule, batch in r.said()} == {
        ("failed", "a"), ("submit-failures", "b")}  # fmt: skip


async def test_stall_detection_fires_on_the_timer_without_new_events(rig: Any) -> None:
    r = await rig(STALLED)
    await r.commit(r.batch("quiet", "running"), r.batch("done", "succeeded"))
    await r.run_until(2000)
    [(t, kind, rule, batch)] = r.said()
    assert (kind, rule, batch) == ("firing", "stalled", "quiet")
    assert within(t, 900, 931)


async def test_completion_digest_once_per_finish(rig: Any) -> None:
    r = await rig()
    await r.commit(r.batch("b1", "running"))
    await r.commit(*(r.task("b1", n, "succeeded") for n in range(7)))
    await r.commit(r.task("b1", 7, code="InvalidFile.Corrupted"),
                   r.task("b1", 8, code="InvalidFile.Corrupted"),
                   r.task("b1", 9, code="ResourceNotFound"))  # fmt: skip
    await r.run_until(60)
    assert r.notices("digest") == []
    await r.commit(r.batch("b1", "succeeded", success=7, failure=3))
    await r.run_until(120)
    [(t, view)] = r.notices("digest")
    assert within(t, 60, 62)
    c = view["completion"]
    assert c["state"] == "succeeded" and c["processed"] == 10
    assert c["failure_ratio"] == pytest.approx(0.3)
    assert c["failures_by_code"] == {"InvalidFile.Corrupted": 2, "ResourceNotFound": 1}
    assert [f["object_path"] for f in c["failed"]] == [
        f"oss://in/b1/{n:04d}.mov" for n in (7, 8, 9)]  # fmt: skip
    assert c["duration_seconds"] == pytest.approx(61, abs=1)
    assert c["throughput_per_minute"] == pytest.approx(10 / c["duration_seconds"] * 60)
    # resumed and finished again: a second digest, for the second finish only
    await r.commit(r.batch("b1", "running", success=7, failure=3))
    await r.run_until(130)
    await r.commit(r.batch("b1", "failed", success=7, failure=3))
    await r.run_until(200)
    assert [v["status"] for _, v in r.notices("digest")] == ["succeeded", "failed"]


async def test_ice_digest_lists_the_output_media(rig: Any) -> None:
    r = await rig()
    jobs = [
        IceJobEvent(
            event_id=f"job-{n}", source="acs.ice", type="ProduceMediaComplete", time=r.at(),
            ingress="replay", batch_key="ice-1", task_id=f"job-{n}",
            status="succeeded" if n else "failed", code="" if n else "InvalidTimeline",
            media_url=f"https://out.oss-cn-shanghai.aliyuncs.com/render/{n}.mp4" if n else "",
        )
        for n in range(3)
    ]  # fmt: skip
    done = IceBatchJobEvent(event_id="ice-batch-done", source="acs.ice",
                            type="BatchProduceMediaComplete", time=r.at(), ingress="replay",
                            batch_key="ice-1", status="finished")  # fmt: skip
    await r.commit(*jobs, done)
    await r.run_until(5)
    [(_, view)] = r.notices("digest")
    c = view["completion"]
    assert c["media_urls"] == [f"https://out.oss-cn-shanghai.aliyuncs.com/render/{n}.mp4"
                               for n in (1, 2)]  # fmt: skip
    assert c["failures_by_code"] == {"InvalidTimeline": 1}


async def test_notices_render_in_the_default_templates(rig: Any) -> None:
    r = await rig(FAILED | {"annotations": {"summary": "{{ batch_key }} is {{ status }}"}})
    await r.commit(r.task("b1", 1, code="InvalidFile.Corrupted"), r.task("b1", 2, "succeeded"))
    await r.commit(r.batch("b1", "failed", success=1, failure=1))
    await r.run_until(5)
    alert = next(n for _, n in r.sink.sent if any(e["kind"] == "alert" for e in n.events))
    digest = next(n for _, n in r.sink.sent if any(e["kind"] == "digest" for e in n.events))
    chat = template_or_default(None, "chat", "x")
    email = template_or_default(None, "email.html", "x")
    text = chat.render(alert, dialect="markdown", show_title=True)
    assert text.startswith("### Alert failed firing for batch b1 (media)")
    assert "**Firing**: `failed` (critical): b1 is failed" in text
    text = chat.render(digest, dialect="text", show_title=True)  # grouped with the alert
    assert "Completed: failed after" in text and "failure ratio 50.0%" in text
    assert "InvalidFile.Corrupted oss://in/b1/0001.mov" in text.replace("`", "")
    html = email.render(digest)
    assert "<h3>Completed: failed</h3>" in html and "oss://in/b1/0001.mov" in html
    assert "Firing" in email.render(alert)


async def test_alerts_of_a_rule_removed_from_the_config_are_forgotten(rig: Any) -> None:
    r = await rig(FAILED)
    await r.commit(r.batch("b1", "failed"))
    await r.run_until(5)
    assert [a.status for a in await r.alerts.alerts()] == ["firing"]
    r.evaluator = AlertEvaluator(r.alerts, AlertsConfig(), None, clock=r.clock)  # rule gone
    await r.run_until(40)
    assert await r.alerts.alerts() == []


async def test_alertmanager_gets_firing_alerts_again_before_their_end_runs_out(
    rig: Any,
) -> None:
    posts: list[tuple[float, list[dict[str, Any]]]] = []

    async def receive(request: web.Request) -> web.Response:
        posts.append((r.t, await request.json()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/api/v2/alerts", receive)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    r = await rig()
    config = AlertsConfig.model_validate({"evaluation_interval": "30s", "rules": [STALLED]})
    am_config = AlertmanagerConfig.model_validate(
        {"type": "alertmanager", "url": str(server.make_url("/")), "resolve_after": 900}
    )
    try:
        async with aiohttp.ClientSession() as session:
            notifier = AlertmanagerNotifier("am", am_config, session)
            tree = routes(receiver="am")
            r.evaluator = AlertEvaluator(r.alerts, config, tree, clock=r.clock,
                                         alertmanagers={"am": am_config})  # fmt: skip
            r.dispatcher = Dispatcher(r.store, tree, {"am": am_config}, {"am": notifier},
                                      r.metrics, clock=r.clock)  # fmt: skip
            await r.commit(r.batch("b1", "running"))
            await r.run_until(1500, step=10)  # stalled from 900 s: posted, then every 300 s
            await r.commit(r.batch("b1", "running", success=1))  # resolved: no more re-posts
            await r.run_until(2300, step=10)  # (stalled again from 2410 s)
    finally:
        await server.close()
    times = [t for t, _ in posts]
    # the firing notice through the outbox on the first pass that sees the stall, then
    # re-posts every third of resolve_after, then the resolution, then nothing
    assert times[0] in (910, 920, 930) and times[1:3] == [1200, 1500] and len(times) == 4
    for t, [alert] in posts[:3]:
        assert alert["labels"]["alertname"] == "stalled"
        ends = datetime.fromisoformat(alert["endsAt"])
        assert (ends - datetime.fromtimestamp(START + t, UTC)).total_seconds() == 900
    resolved_at, [last] = posts[3]
    assert 1510 <= resolved_at <= 1520
    assert datetime.fromisoformat(last["endsAt"]) <= datetime.fromtimestamp(
        START + resolved_at, UTC
    )

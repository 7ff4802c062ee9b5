"""The lifecycle generator: determinism, consistency, and the expected ledger."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from batchrelay.simulate import SimEvent, Traffic, TrafficSpec, encode, generate
from batchrelay.simulate.catalog import ICE_ERRORS, PROFILES

from .conftest import START

pytestmark = pytest.mark.timeout(10)

MIXED = TrafficSpec(START, kind="mixed", batches=9, tasks=12, failure_ratio=0.3, seed=11)
IMM_CODES = {code for profile in PROFILES for _, (code, _) in profile.errors}
ICE_CODES = {code for _, (code, _) in ICE_ERRORS}


def by_batch(traffic: Traffic) -> dict[str, list[SimEvent]]:
    groups: dict[str, list[SimEvent]] = defaultdict(list)
    for event in traffic.events:
        groups[event.batch_key].append(event)
    return groups


def wire_bytes(traffic: Traffic) -> list[bytes]:
    out = []
    for event in traffic.events:
        out.append(encode(event, "mns"))
        out.append(encode(event, "eventbridge" if event.service == "imm" else "ice"))
    return out


def test_same_seed_gives_identical_bytes() -> None:
    assert wire_bytes(generate(MIXED)) == wire_bytes(generate(MIXED))
    assert generate(MIXED).ledger_json() == generate(MIXED).ledger_json()


def test_another_seed_gives_other_traffic() -> None:
    other = generate(replace(MIXED, seed=12))
    assert wire_bytes(other) != wire_bytes(generate(MIXED))
    assert {e.event_id for e in other.events}.isdisjoint(e.event_id for e in generate(MIXED).events)


def test_start_time_is_injected_and_events_are_time_ordered() -> None:
    traffic = generate(TrafficSpec(START + timedelta(microseconds=250), seed=3))
    times = [e.time for e in traffic.events]
    assert times[0] == START  # floored to the second, as IMM's CreateTime
    assert times == sorted(times)


def test_every_event_and_task_id_is_unique() -> None:
    traffic = generate(MIXED)
    ids = [e.event_id for e in traffic.events]
    assert len(ids) == len(set(ids))
    tasks = Counter(e.task_id for e in traffic.events if e.task_id)
    imm_tasks = {e.task_id for e in traffic.events if e.service == "imm" and e.task_id}
    # IMM tasks report twice (Running, then final); ICE sub-jobs once.
    assert all(n == (2 if task in imm_tasks else 1) for task, n in tasks.items())


def test_each_task_runs_before_it_ends() -> None:
    events: dict[str, list[SimEvent]] = defaultdict(list)
    for event in generate(MIXED).events:
        if event.service == "imm" and event.task_id:
            events[event.task_id].append(event)
    for running, final in events.values():
        assert running.body["Status"] == "Running" and running.body["EndTime"] == ""
        assert final.body["Status"] in ("Succeeded", "Failed")
        assert running.time < final.time


def test_task_events_name_their_batch_and_objects_under_its_prefix() -> None:
    for key, events in by_batch(generate(MIXED)).items():
        if not key.startswith(("batch-", "trigger-")):
            continue
        batch = events[0].body
        prefix = f"oss://{batch['Input']['OSS']['Bucket']}/{batch['Input']['OSS']['Prefix']}"
        for task in (e for e in events if e.task_id):
            assert task.body["EventSourceId"] == key
            assert task.body["TaskId"].startswith(f"{task.body['TaskType']}-")
            assert task.body["Sources"][0]["URI"].startswith(prefix)
            assert task.body["Sources"][0]["URI"].endswith((".docx", ".mov"))


def test_batch_ids_types_and_state_sequence() -> None:
    for key, events in by_batch(generate(MIXED)).items():
        if key.startswith(("batch-", "trigger-")):
            noun = "Trigger" if key.startswith("trigger-") else "Batch"
            assert re.fullmatch(r"(batch|trigger)-[0-9a-f-]{36}", key)
            notes = [e for e in events if e.type == f"imm:{noun}:Notification"]
            states = [n.body["State"] for n in notes]
            assert states[0] == "Ready" and states[-1] == "Succeeded"
            assert set(states[1:-1]) == {"Running"} and len(states) >= 4


def test_statistic_grows_and_counts_the_task_results_sent_so_far() -> None:
    for key, events in by_batch(generate(MIXED)).items():
        if key.startswith(("batch-", "trigger-")):
            finals = [e for e in events if e.body.get("Status") in ("Succeeded", "Failed")]
            outcomes = Counter(f.body["Status"] for f in finals)
            previous = (0, 0, 0)
            for note in (e for e in events if "Statistic" in e.body):
                stat = note.body["Statistic"]
                current = (stat["SubmitSuccess"], stat["SubmitFailure"], stat["SkipFiles"])
                assert all(now >= before for now, before in zip(current, previous, strict=True))
                done = Counter(f.body["Status"] for f in finals if f.time <= note.time)
                assert current[:2] == (done["Succeeded"], done["Failed"])
                previous = current
            assert previous[:2] == (outcomes["Succeeded"], outcomes["Failed"])


def test_failure_ratio_is_respected_roughly() -> None:
    for kind in ("imm-batch", "ice-batch"):
        traffic = generate(TrafficSpec(START, kind=kind, tasks=3000, failure_ratio=0.1, seed=2))
        counts = traffic.expected[0].task_counts
        assert 0.085 < counts["failed"] / sum(counts.values()) < 0.115


def test_failures_use_the_weighted_code_mix() -> None:
    traffic = generate(TrafficSpec(START, kind="mixed", batches=6, tasks=400, failure_ratio=0.5))
    codes: Counter[str] = Counter()
    for expected in traffic.expected:
        codes.update(expected.error_codes)
    assert set(codes) <= IMM_CODES | ICE_CODES
    assert codes["InvalidFile.Corrupted"] > codes["InternalError"]  # common beats rare


def test_fast_fail_abort_ends_the_batch_failed_and_stops_submitting() -> None:
    spec = TrafficSpec(START, tasks=60, failure_ratio=0.2, fast_fail_ratio=1.0, seed=4)
    traffic = generate(spec)
    (expected,) = traffic.expected
    final = traffic.events[-1].body
    assert final["Actions"][0]["FastFailPolicy"] == {"Action": "abort"}
    assert (final["State"], expected.state) == ("Failed", "failed")
    assert final["Error"].startswith("FastFailPolicy abort: task ") and expected.error
    assert expected.tasks < 60  # the files after the first failure never ran


def test_ice_batch_lifecycle() -> None:
    traffic = generate(TrafficSpec(START, kind="ice-batch", tasks=8, failure_ratio=0.5, seed=9))
    *subjobs, batch = traffic.events
    job_id = batch.body["JobId"]
    assert re.fullmatch(r"[0-9a-f]{32}", job_id)
    assert (batch.type, batch.body["Status"]) == ("BatchProduceMediaComplete", "Finished")
    assert all(e.time.microsecond == 0 for e in traffic.events)  # ICE has whole seconds
    for sub in subjobs:
        assert sub.type == "ProduceMediaComplete" and sub.time < batch.time
        assert f'"batch_id":"{job_id}"' in sub.body["UserData"]
        ok = sub.body["Status"] == "Success"
        assert bool(sub.body["MediaURL"]) == ok and bool(sub.body["ErrorCode"]) != ok


def test_expected_ledger_matches_the_stream() -> None:
    traffic = generate(replace(MIXED, fast_fail_ratio=0.5))
    groups = by_batch(traffic)
    assert sum(e.events for e in traffic.expected) == len(traffic.events)
    for expected in traffic.expected:
        events = groups[expected.batch_key]
        final_status = {e.task_id: e.body["Status"] for e in events if e.task_id}
        normalized = Counter(_normal(status) for status in final_status.values())
        codes = Counter(_code(e) for e in events if e.task_id and _code(e))
        assert expected.task_counts == dict(normalized)
        assert expected.error_codes == dict(codes)
        assert expected.tasks == len(final_status) and expected.events == len(events)
        assert expected.finished_at == events[-1].time
        if expected.statistic is not None:
            stat = events[-1].body["Statistic"]
            assert (expected.statistic["submit_success"], expected.statistic["submit_failure"]) == (
                stat["SubmitSuccess"], stat["SubmitFailure"])  # fmt: skip
            assert expected.statistic["submit_success"] == normalized["succeeded"]


def test_ledger_json_is_plain_json() -> None:
    ledger = generate(MIXED).ledger_json()
    assert ledger["events"] == len(generate(MIXED).events) and len(ledger["batches"]) == 9
    for batch in ledger["batches"].values():
        for key in ("create_time", "finished_at"):
            assert datetime.fromisoformat(batch[key]).tzinfo == UTC


def _normal(status: str) -> str:
    return {"Succeeded": "succeeded", "Success": "succeeded"}.get(status, "failed")


def _code(event: SimEvent) -> str:
    return str(event.body.get("Code") or event.body.get("ErrorCode") or "")

"""The command-line surface: flags, dry runs as fixture generators, --expect, errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from batchrelay.errors import ConfigError
from batchrelay.simulate import SimulateOptions, TrafficSpec, add_arguments, generate, run

from .conftest import START, Recorder

pytestmark = pytest.mark.timeout(10)

FIXED = ["--start-time", "2026-11-20T02:00:00Z", "--seed", "21"]


def last_json(text: str) -> dict[str, object]:
    """The report: the last line (log lines, also on stdout, may come before it)."""
    result: dict[str, object] = json.loads(text.splitlines()[-1])
    return result


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="batchrelay simulate")
    add_arguments(parser)
    return parser.parse_args(list(argv))


async def test_dry_run_prints_json_lines_and_reports_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        await run(parse("--dry-run", "--kind", "mixed", "--batches", "3", "--tasks", "4", *FIXED))
        == 0
    )
    out, err = capsys.readouterr()
    lines = out.splitlines()
    report = json.loads(err)
    assert report["planned"] == report["sent"] == report["events"] == len(lines) > 0
    assert all(isinstance(json.loads(line), dict) for line in lines)


async def test_dry_run_is_byte_identical_for_one_seed(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("--dry-run", "--duplicates", "0.2", "--shuffle", *FIXED)
    await run(parse(*argv))
    first = capsys.readouterr().out
    await run(parse(*argv))
    assert capsys.readouterr().out == first
    await run(parse("--dry-run", "--duplicates", "0.2", "--shuffle", *FIXED[:2], "--seed", "22"))
    assert capsys.readouterr().out != first


async def test_expect_writes_the_expected_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "expected.json"
    await run(
        parse("--dry-run", "--kind", "ice-batch", "--tasks", "5", "--expect", str(path), *FIXED)
    )
    capsys.readouterr()
    spec = TrafficSpec(START, kind="ice-batch", tasks=5, seed=21, notify_address="imm-notify")
    assert json.loads(path.read_text(encoding="utf-8")) == generate(spec).ledger_json()


async def test_dry_run_follows_the_target_wire(capsys: pytest.CaptureFixture[str]) -> None:
    await run(parse("--dry-run", "--target", "eventbridge", "--tasks", "2", *FIXED))
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["specversion"] == "1.0" and isinstance(first["data"], dict)


async def test_sends_to_eventbridge(recorder: Recorder, capsys: pytest.CaptureFixture[str]) -> None:
    argv = (
        "--target",
        "eventbridge",
        "--endpoint",
        recorder.url,
        "--eventbridge-token",
        "tok",
        "--tasks",
        "3",
    )
    assert await run(parse(*argv, *FIXED)) == 0
    report = last_json(capsys.readouterr().out)
    assert report["sent"] == report["events"] == len(recorder.requests)
    assert {r.headers["x-eventbridge-signature-token"] for r in recorder.requests} == {"tok"}


async def test_sends_signed_ice_callbacks(
    recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = (
        "--target",
        "ice",
        "--kind",
        "ice-batch",
        "--endpoint",
        recorder.url,
        "--ice-auth-key",
        "K1",
    )
    assert await run(parse(*argv, "--tasks", "3", *FIXED)) == 0
    capsys.readouterr()
    assert len(recorder.requests) == 4 and all(
        "X-ICE-SIGNATURE" in r.headers for r in recorder.requests
    )
    user_data = json.loads(recorder.requests[0].body)["MessageBody"]["UserData"]
    assert json.loads(user_data)["NotifyAddress"] == f"{recorder.url}/ingest/ice"


async def test_failures_give_exit_status_one(
    recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder.script = [403]
    argv = ("--target", "ice", "--kind", "ice-batch", "--endpoint", recorder.url, "--tasks", "1")
    assert await run(parse(*argv, *FIXED)) == 1
    assert last_json(capsys.readouterr().out)["errors"] == {"http_403": 1}


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (("--failure-ratio", "2"), "--failure-ratio"),
        (("--batches", "0"), "--batches"),
        (("--target", "ice", "--kind", "imm-batch"), "--target ice carries --kind ice-batch"),
        (("--target", "eventbridge", "--kind", "mixed"), "--target eventbridge"),
        (("--start-time", "yesterday"), "--start-time"),
    ],
)
async def test_bad_options_are_config_errors_naming_the_flag(
    argv: tuple[str, ...], names: str
) -> None:
    with pytest.raises(ConfigError, match=names):
        await run(parse(*argv))


async def test_errors_never_echo_secrets() -> None:
    with pytest.raises(ConfigError) as caught:
        await run(parse("--access-key-secret", "hunter2", "--ice-auth-key", "K9", "--tasks", "-1"))
    assert "hunter2" not in str(caught.value) and "K9" not in str(caught.value)


def test_defaults_point_at_the_local_emulator_and_batchrelay() -> None:
    from batchrelay import emulator

    options = SimulateOptions()
    assert options.resolved_endpoint() == emulator.EmulatorConfig().base_url()
    assert options.access_key_id == emulator.DEFAULT_ACCESS_KEY_ID
    assert SimulateOptions(target="eventbridge").resolved_endpoint() == "http://127.0.0.1:8080"


def test_help_lists_every_option() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    text = parser.format_help()
    for name in SimulateOptions.model_fields:
        assert f"--{name.replace('_', '-')}" in text
    assert "batchrelay-secret" not in text  # secrets have no shown default

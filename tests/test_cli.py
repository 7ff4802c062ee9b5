"""The command line: exit codes, one-line errors, never a traceback."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from batchrelay.cli import main

from .conftest import SAMPLES, sample
from .fakes import WebhookSink, running_sink
from .processes import Child, children, free_port, wait_ready, write_config


def config_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"store: {{url: 'sqlite:///{tmp_path}/relay.db'}}\nlog: {{level: warning}}\n{extra}"
    )
    return path


def test_check_config_ok(tmp_path: Path, capsys: Any) -> None:
    assert main(["check-config", "-c", str(config_file(tmp_path))]) == 0
    assert "ok" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("server: {port: 99999}", "server.port"),
        ("store: {synchronus: FULL}", "store.synchronus: unknown key"),
        (
            "ingress: {mns_push: {cert_url_prefixes: ['ftp://x/']}}",
            "ingress.mns_push.cert_url_prefixes",
        ),
        ("batch_key: {extractors: [nonsense]}", "batch_key.extractors"),
        ("api:\n  token: ${NOT_SET_ANYWHERE}\n", "NOT_SET_ANYWHERE"),
        ("server: [1, 2", "not valid YAML"),
        ("- just a list", "mapping"),
        (
            "alerts: {rules: [{name: typo, condition: 'status == \"running\" &&'}]}",
            "alert rule 'typo': condition at 1:21: syntax error",
        ),
        (
            "alerts: {rules: [{name: r, condition: 'true', receiver: x}]}",
            "alerts.rules[0].receiver",
        ),
    ],
)
def test_check_config_names_the_bad_key(
    tmp_path: Path, capsys: Any, text: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["check-config", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_secrets_are_not_echoed_in_config_errors(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("api: {token: [hunter2-very-secret]}\n")
    assert main(["check-config", "-c", str(path)]) == 2
    assert "hunter2" not in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.*") if p.suffix != ".md"))
def test_parse_prints_the_normalized_view_of_every_sample(name: str, capsys: Any) -> None:
    assert main(["parse", str(SAMPLES / name)]) == 0
    [line] = capsys.readouterr().out.splitlines()
    view = json.loads(line)
    assert list(view)[:4] == ["event_id", "source", "type", "kind"]
    assert view["time"].endswith("Z")


def test_parse_json_lines_and_stdin(tmp_path: Path) -> None:
    lines = [
        json.dumps(json.loads(sample(n)))
        for n in ("imm-task-mns-queue.json", "ice-produce-media-complete.json")
    ]
    result = subprocess.run(
        [sys.executable, "-m", "batchrelay", "parse", "-"],
        input="\n".join(lines).encode(), capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    kinds = [json.loads(line)["kind"] for line in result.stdout.splitlines()]
    assert kinds == ["task", "ice_job"]


def test_parse_bad_input_is_one_line_and_nonzero(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"id": "x", "source": "acs.imm", "content": "{\\"Tru')
    result = subprocess.run(
        [sys.executable, "-m", "batchrelay", "parse", str(bad)],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    err = result.stderr.decode()
    assert err.count("\n") == 1 and "bad_json" in err
    assert "Traceback" not in err
    missing = subprocess.run(
        [sys.executable, "-m", "batchrelay", "parse", str(tmp_path / "absent.json")],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert missing.returncode == 1  # bad input, not a configuration error
    assert b"Traceback" not in missing.stderr


def test_ingest_then_ledger_show_and_rebuild(tmp_path: Path, capsys: Any) -> None:
    config = str(config_file(tmp_path))
    lines = tmp_path / "inputs.jsonl"
    lines.write_text("\n".join(json.dumps(json.loads(sample(n))) for n in (
        "imm-task-mns-queue.json", "imm-batch-notification.json", "imm-task-eventbridge.json",
    )) + "\n{broken\n")  # fmt: skip
    assert main(["ingest", str(lines), "-c", config]) == 1  # one input was quarantined
    out, err = capsys.readouterr()
    assert json.loads(out.splitlines()[-1]) == {"committed": 3, "duplicates": 0, "quarantined": 1}
    assert "inputs.jsonl:4" in err
    assert main(["ingest", str(lines), "-c", config]) == 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["duplicates"] == 3

    assert main(["ledger", "show", "-c", config]) == 0
    before = json.loads(capsys.readouterr().out)
    assert len(before["batches"]) == 2
    assert main(["ledger", "show", "batch-2f3e4d5c-6b7a-4890-a1b2-c3d4e5f60718", "-c", config]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "running"
    assert main(["ledger", "show", "no-such-batch", "-c", config]) == 1
    capsys.readouterr()
    assert main(["ledger", "rebuild", "-c", config]) == 0
    assert json.loads(capsys.readouterr().out) == {"rebuilt_from_events": 3}
    assert main(["ledger", "show", "-c", config]) == 0
    assert json.loads(capsys.readouterr().out) == before


def test_routes_test_renders_without_sending(capsys: Any) -> None:
    config = str(Path(__file__).parent / "fixtures" / "routes.yaml")
    assert main(["routes", "test", str(SAMPLES / "imm-task-eventbridge.json"), "-c", config]) == 0
    out = capsys.readouterr().out
    assert "route root/0 (imm-task-failures) -> receiver ops-ding [dingtalk]" in out
    assert "message to oapi.dingtalk.com:" in out
    assert "InvalidFile.Corrupted × 1\\n- oss://docs-in/contracts/2026/q4-0042.docx" in out
    assert "access_token" not in out  # the receiver's secret URL is never printed
    assert (
        main(["routes", "test", str(SAMPLES / "ice-produce-media-complete.json"), "-c", config])
        == 0
    )
    assert "receiver ice-hook [webhook]" in capsys.readouterr().out


def test_deadletters_cli(tmp_path: Path, capsys: Any) -> None:
    config = str(config_file(tmp_path))
    (tmp_path / "relay.db").touch()  # the daemon's store; reading commands never create one
    assert main(["deadletters", "list", "-c", config]) == 0
    assert capsys.readouterr().out == ""
    assert main(["deadletters", "replay", "nope", "-c", config]) == 1
    assert "no dead letter" in capsys.readouterr().err


async def test_ingested_events_are_sent_by_the_daemon(tmp_path: Path) -> None:
    """What ``batchrelay ingest`` commits is routed like any other input: its notifications
    wait in the outbox and the daemon, started afterwards, sends them."""
    events = tmp_path / "inputs.jsonl"
    events.write_text(json.dumps(json.loads(sample("imm-task-mns-queue.json"))) + "\n")
    async with running_sink(WebhookSink()) as sink:
        port = free_port()
        config = write_config(
            tmp_path, port,
            receivers={"hook": {"type": "webhook", "url": sink.url}},
            routing={"route": {"receiver": "hook", "group_wait": "1ms"}},
            alerts={"rules": [], "digest": {"enabled": False}},
        )  # fmt: skip
        assert await asyncio.to_thread(main, ["ingest", str(events), "-c", str(config)]) == 0
        daemon = Child(["run", "-c", str(config)], tmp_path / "daemon.log")
        with children(daemon):
            daemon.start()
            await wait_ready(f"http://127.0.0.1:{port}/readyz")
            async with asyncio.timeout(30):
                while not sink.owners():
                    await asyncio.sleep(0.05)
    assert len(sink.owners()) == 1  # the one task event, sent once

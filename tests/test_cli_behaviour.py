"""The command line behaves: quiet broken pipes, errors in their real category, no store
created by reading it, a default author, tables on a terminal, examples in every --help,
and previews of alert and digest messages."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from batchrelay.cli import build_parser, main
from batchrelay.simulate import SimulateOptions, encode, generate

from .conftest import SAMPLES
from .test_cli import config_file

ROUTES = """
receivers:
  terminal: {type: log}
  nowhere: {type: "null"}
routing:
  route:
    receiver: nowhere
    routes:
      - {name: alerts-and-digests, match: {kind: [alert, digest]}, receiver: terminal}
alerts:
  rules:
    - {name: stalled, condition: 'status == "running" && idle_for > duration("15m")',
       annotations: {summary: "{{ batch_key }} stalled"}}
"""


def run(*argv: str, cwd: Path | None = None, tty: bool = False) -> subprocess.CompletedProcess[str]:
    """``python -m batchrelay ARGV``; with ``tty``, under a pseudo-terminal (``script``)."""
    command = [sys.executable, "-m", "batchrelay", *argv]
    if tty:
        command = ["script", "-qec", " ".join(_quote(a) for a in command), "/dev/null"]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """A config whose store holds a few hundred simulated events (a finished batch too)."""
    start = datetime(2026, 11, 20, 2, tzinfo=UTC)
    options = SimulateOptions(kind="imm-batch", batches=3, tasks=60, seed=4, failure_ratio=0.2,
                              start_time=start)  # fmt: skip
    lines = tmp_path / "events.jsonl"
    lines.write_bytes(b"\n".join(encode(e, "mns") for e in generate(options.spec(start)).events))
    config = config_file(tmp_path, ROUTES)
    assert main(["ingest", str(lines), "-c", str(config)]) == 0
    return config


def test_a_broken_pipe_ends_quietly(filled: Path) -> None:
    argv = [sys.executable, "-m", "batchrelay", "ledger", "show", "-c", str(filled)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.read(100)
        proc.stdout.close()  # as `| head` does
        assert proc.wait(timeout=30) == 141
        assert proc.stderr.read() == b""  # no BrokenPipeError traceback


@pytest.mark.parametrize(
    "argv",
    [["ledger", "show"], ["ledger", "rebuild"], ["deadletters", "list"], ["silence", "list"],
     ["silence", "add", "--batch", "b", "--duration", "1h", "--comment", "x"],
     ["routes", "test", "--digest", "b", "-c", "CONFIG"]],
    ids=lambda argv: " ".join(argv[:2]),
)  # fmt: skip
def test_reading_a_store_refuses_a_missing_database(tmp_path: Path, argv: list[str]) -> None:
    config = config_file(tmp_path, ROUTES)
    argv = [str(config) if a == "CONFIG" else a for a in argv]
    done = run(*argv, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("batchrelay: store error: no database at ")
    assert not (tmp_path / "data").exists() and not (tmp_path / "relay.db").exists()


def test_store_copy_refuses_a_missing_source(tmp_path: Path) -> None:
    done = run("store", "copy", "--from", f"sqlite:///{tmp_path}/gone.db", "-c",
               str(config_file(tmp_path)))  # fmt: skip
    assert done.returncode == 3 and "no database at" in done.stderr
    assert not (tmp_path / "gone.db").exists()


def test_store_copy_needs_a_source(tmp_path: Path) -> None:
    done = run("store", "copy", "-c", str(config_file(tmp_path)))
    assert done.returncode == 2 and "--from URL is required" in done.stderr


def test_store_stats_lists_every_table_with_rows_size_and_oldest_row(filled: Path) -> None:
    done = run("store", "stats", "--json", "-c", str(filled))
    assert done.returncode == 0, done.stderr
    tables = {t["table"]: t for t in json.loads(done.stdout)}
    assert {"events", "raw_inputs", "tasks", "batches", "batch_rollups"} <= set(tables)
    events = tables["events"]
    assert events["rows"] > 100 and events["bytes"] > 0 and events["oldest"]
    assert tables["task_snapshots"] == {"table": "task_snapshots", "rows": 0,
                                        "bytes": tables["task_snapshots"]["bytes"],
                                        "oldest": None}  # fmt: skip
    table = run("store", "stats", "-c", str(filled), tty=True)
    assert table.returncode == 0 and "TABLE" in table.stdout and "MiB" in table.stdout


@pytest.mark.parametrize("argv", [["parse"], ["ingest"], ["routes", "test"]], ids=" ".join)
def test_a_missing_input_file_is_an_input_error(tmp_path: Path, argv: list[str]) -> None:
    done = run(*argv, str(tmp_path / "nope.json"), "-c", str(config_file(tmp_path, ROUTES)))
    assert done.returncode == 1
    assert (
        done.stderr == f"batchrelay: {tmp_path}/nope.json: cannot read: No such file or directory\n"
    )


def test_silence_add_as_the_readme_writes_it(filled: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("USER", "LOGNAME", "USERNAME")}
    done = subprocess.run(
        [sys.executable, "-m", "batchrelay", "silence", "add", "--batch", "batch-0042",
         "--duration", "4h", "--expire-on-close", "--comment", "re-run, known bad inputs",
         "-c", str(filled)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["created_by"] == getpass.getuser()
    listed = run("silence", "list", "-c", str(filled))
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [created["id"]]


def test_an_invalid_silence_does_not_show_an_id(filled: Path) -> None:
    done = run("silence", "add", "--batch", "b", "--duration", "4h", "--comment", " ", "-c",
               str(filled))  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == "batchrelay: silence add: invalid silence: comment is empty\n"


def test_lists_are_tables_on_a_terminal_and_json_otherwise(filled: Path) -> None:
    on_tty = run("ledger", "show", "-c", str(filled), tty=True).stdout.splitlines()
    assert on_tty[0].split() == ["BATCH", "KIND", "STATE", "PROJECT", "TASKS", "UPDATED"]
    assert len(on_tty) == 4
    asked = run("ledger", "show", "--json", "-c", str(filled), tty=True).stdout
    assert set(json.loads(asked)["batches"]) == {line.split()[0] for line in on_tty[1:]}
    assert run("silence", "list", "-c", str(filled), tty=True).stdout.strip() == "No silences."
    assert run("silence", "list", "-c", str(filled)).stdout == ""  # JSON lines: none
    dead = run("deadletters", "list", "-c", str(filled), tty=True).stdout.strip()
    assert dead == "No dead letters."


def test_every_subcommand_has_an_example_and_the_top_level_lists_them(capsys: Any) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    top = capsys.readouterr().out
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in commands:
        assert f"    {name}" in top, name
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0
        assert "example:\n  batchrelay " in capsys.readouterr().out, name


def test_routes_test_previews_an_alert_for_an_example_batch(tmp_path: Path) -> None:
    done = run("routes", "test", "--alert", "stalled", "-c", str(config_file(tmp_path, ROUTES)))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "alert stalled firing for batch batch-example (running)"
    assert lines[1] == "  route root/0 (alerts-and-digests) -> receiver terminal [log]"
    unknown = run("routes", "test", "--alert", "nope", "-c", str(config_file(tmp_path, ROUTES)))
    assert unknown.returncode == 2 and "no rule 'nope' (rules: stalled)" in unknown.stderr


def test_routes_test_previews_a_completion_digest_from_the_store(filled: Path) -> None:
    batch = json.loads(run("ledger", "show", "--json", "-c", str(filled)).stdout)["batches"]
    done_key = next(k for k, b in batch.items() if b["state"] in ("succeeded", "failed"))
    done = run("routes", "test", "--digest", done_key, "-c", str(filled))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"completion digest for batch {done_key} (")
    assert "receiver terminal [log]" in done.stdout
    running = next((k for k, b in batch.items() if b["state"] == "running"), done_key)
    assert run("routes", "test", "--digest", running, "-c", str(filled)).returncode == 0
    missing = run("routes", "test", "--digest", "no-such", "-c", str(filled))
    assert missing.returncode == 1 and "no batch 'no-such'" in missing.stderr


def test_routes_test_says_a_null_receiver_drops(tmp_path: Path) -> None:
    event = str(SAMPLES / "imm-task-eventbridge.json")
    done = run("routes", "test", event, "-c", str(config_file(tmp_path, ROUTES)))
    assert done.stdout.splitlines()[1:] == [
        "  route root -> receiver nowhere [null]",
        "    dropped: a null receiver sends nothing",
    ]


def test_bad_simulate_flags_are_a_usage_error() -> None:
    done = run("simulate", "--tasks", "-1", "--dry-run")
    assert done.returncode == 2
    assert done.stderr.startswith("batchrelay: simulate: --tasks: ")

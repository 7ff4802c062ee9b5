"""The ``batchrelay emulator`` command: flags, validation, and a real start and stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from mns.account import Account

from batchrelay.emulator import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, main
from batchrelay.emulator.cli import build_parser, config_from_args


def test_defaults() -> None:
    config = config_from_args(build_parser().parse_args([]))
    assert (config.host, config.port) == ("127.0.0.1", 8090)
    assert {k: v.get_secret_value() for k, v in config.access_keys.items()} == {
        DEFAULT_ACCESS_KEY_ID: DEFAULT_ACCESS_KEY_SECRET
    }
    assert config.faults.error_ratio == 0.0


def test_flags() -> None:
    argv = [
        "--port", "9000", "--access-key", "a:b", "--access-key", "c:d:e", "--queue", "q1",
        "--queue", "q2", "--duplicate-ratio", "0.1", "--error-ratio", "0.2", "--latency", "0.5",
        "--lost-delete-ratio", "0.3", "--seed", "7", "--retry-scale", "0.01",
    ]  # fmt: skip
    config = config_from_args(build_parser().parse_args(argv))
    assert {k: v.get_secret_value() for k, v in config.access_keys.items()} == {
        "a": "b",
        "c": "d:e",
    }
    assert (config.port, config.queues, config.seed, config.retry_scale) == (
        9000,
        ("q1", "q2"),
        7,
        0.01,
    )
    faults = config.faults
    assert (
        faults.duplicate_ratio,
        faults.error_ratio,
        faults.latency,
        faults.lost_delete_ratio,
    ) == (
        0.1,
        0.2,
        0.5,
        0.3,
    )


def test_malformed_access_key_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--access-key", "no-secret"])
    assert caught.value.code == 2
    assert "ID:SECRET" in capsys.readouterr().err


def test_out_of_range_option_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--error-ratio", "1.5"]) == 2
    assert "error_ratio" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_listening(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def test_serves_until_sigterm() -> None:
    port = _free_port()
    command = [sys.executable, "-m", "batchrelay.emulator", "--port", str(port), "--queue", "jobs"]
    env = os.environ | {"PYTHONWARNINGS": "ignore::DeprecationWarning"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        try:
            _wait_until_listening(port, time.monotonic() + 8)
            account = Account(
                f"http://127.0.0.1:{port}", DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET
            )
            try:
                assert account.get_queue("jobs").get_attributes().queue_name == "jobs"
            finally:
                account.mns_client.close_connection()
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=8)
    assert proc.returncode == 0, err
    started = json.loads(out.splitlines()[0])
    assert started["event"] == "emulator.started"
    assert started["url"] == f"http://127.0.0.1:{port}"
    assert started["cert_url"].endswith("/x509_public_certificate.pem")
    assert DEFAULT_ACCESS_KEY_SECRET.encode() not in out + err  # secrets never logged

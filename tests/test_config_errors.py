"""``check-config`` catches what ``run`` would die on, and no configuration error prints a
secret or ends in a traceback (issue 13, defect 8)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from batchrelay.cli import main

from .processes import free_port


def write(tmp_path: Path, config: dict[str, object]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    "store_url",
    [
        "postgresql://relay:pa55word@db.internal:99999/relay",
        "postgresql://relay:pa55word@db.internal:port/relay",
        "postgresql://relay:pa55word@:5432/relay",
    ],
)
def test_a_bad_store_url_fails_check_config_without_its_password(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, {"store": {"url": store_url}})
    assert main(["check-config", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert "store.url" in err
    assert "pa55word" not in err


@pytest.mark.parametrize(
    "section",
    [
        {"ice": {"auth_key": "k", "callback_url": "ftp://u:pa55word@h/cb?token=S3CRET"}},
        {"eventbridge": {"public_url": "ftp://h/p?token=S3CRET"}},
        {"mns_push": {"public_url": "gopher://u:pa55word@h/?token=S3CRET"}},
    ],
)
def test_config_errors_never_print_a_urls_secrets(
    tmp_path: Path, section: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, {"ingress": section})
    assert main(["check-config", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert "S3CRET" not in err and "pa55word" not in err
    assert "ingress." in err


def test_missing_tls_files_fail_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tls = {"cert_file": str(tmp_path / "cert.pem"), "key_file": str(tmp_path / "key.pem")}
    path = write(tmp_path, {"server": {"tls": tls}})
    assert main(["check-config", "-c", str(path)]) == 2
    assert "server.tls" in capsys.readouterr().err


def test_run_on_a_port_in_use_ends_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    port = free_port()
    path = write(
        tmp_path,
        {
            "server": {"host": "127.0.0.1", "port": port},
            "store": {"url": f"sqlite:///{tmp_path}/relay.db"},
            "log": {"level": "warning", "format": "json"},
        },
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = subprocess.run(
            [sys.executable, "-m", "batchrelay", "run", "-c", str(path)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr

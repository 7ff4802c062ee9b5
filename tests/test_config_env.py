"""Every config key from the environment: ``BATCHRELAY_<SECTION>__<KEY>`` over the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from batchrelay.config import load
from batchrelay.errors import ConfigError

CONFIG = Path(__file__).parents[1] / "config"


def write(tmp_path: Path, tree: dict[str, object]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def test_a_variable_wins_over_the_file_and_the_rest_of_the_section_stays(tmp_path: Path) -> None:
    path = write(tmp_path, {"server": {"host": "127.0.0.1", "port": 8080, "drain_timeout": 4}})
    env = {"BATCHRELAY_SERVER__HOST": "0.0.0.0", "BATCHRELAY_SERVER__PORT": "9090"}
    settings = load(path, env=env)
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 9090)
    assert settings.server.drain_timeout == 4


def test_the_embedded_defaults_take_variables_too() -> None:
    settings = load(None, env={"BATCHRELAY_STORE__URL": "sqlite:////srv/relay.db"})
    assert str(settings.store.sqlite_path) == "/srv/relay.db"


def test_nested_keys_receivers_and_lists_as_json(tmp_path: Path) -> None:
    path = write(tmp_path, {"receivers": {"ops": {"type": "webhook", "url": "https://a.example"}}})
    queue = {"endpoint": "https://1.mns.cn-hangzhou.aliyuncs.com", "queue": "imm",
             "access_key_id": "id", "access_key_secret": "secret"}  # fmt: skip
    env = {
        "BATCHRELAY_RECEIVERS__OPS__URL": "https://b.example/hook",
        "BATCHRELAY_RECEIVERS__PAGER__TYPE": "webhook",
        "BATCHRELAY_RECEIVERS__PAGER__URL": "https://c.example/hook",
        "BATCHRELAY_SOURCES__MNS_QUEUES": json.dumps([queue]),
        "BATCHRELAY_DELIVERY__TICK": "0.5",
        "BATCHRELAY_LOG__LEVEL": "debug",
        "BATCHRELAY_API__TOKEN": "t0ken",
    }
    settings = load(path, env=env)
    ops = settings.receivers["ops"]
    assert ops.url.get_secret_value() == "https://b.example/hook"  # type: ignore[union-attr]
    assert settings.receivers["pager"].type == "webhook"
    assert [q.queue for q in settings.sources.mns_queues] == ["imm"]
    assert (settings.delivery.tick, settings.log.level) == (0.5, "debug")
    assert settings.api.token is not None and settings.api.token.get_secret_value() == "t0ken"


def test_substitution_in_the_file_still_works_beside_the_variables(tmp_path: Path) -> None:
    path = write(tmp_path, {"api": {"token": "${TOKEN}"}, "server": {"host": "${HOST:-::1}"}})
    settings = load(path, env={"TOKEN": "abc", "BATCHRELAY_SERVER__PORT": "7000"})
    assert settings.api.token is not None and settings.api.token.get_secret_value() == "abc"
    assert (settings.server.host, settings.server.port) == ("::1", 7000)


def test_an_empty_variable_counts_as_unset(tmp_path: Path) -> None:
    path = write(tmp_path, {"server": {"host": "10.0.0.1"}})
    assert load(path, env={"BATCHRELAY_SERVER__HOST": ""}).server.host == "10.0.0.1"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BATCHRELAY_SERVR__HOST": "x"}, "BATCHRELAY_SERVR__HOST: no section 'servr'"),
        ({"BATCHRELAY_SERVER__HOSTT": "x"}, "server.hostt: unknown key"),
        ({"BATCHRELAY_SERVER__PORT": "http"}, "environment overrides of server): server.port"),
        ({"BATCHRELAY_SOURCES__MNS_QUEUES": "[{"}, 'error parsing value for field "sources"'),
    ],
)
def test_a_bad_variable_is_a_config_error_naming_it(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, {}), env=env)
    assert message in str(caught.value)


def test_a_secret_from_the_environment_is_never_echoed(tmp_path: Path) -> None:
    env = {"BATCHRELAY_API__TOKEN": "s3cret", "BATCHRELAY_API__READ_USERS": '{"ann": "s3cret"}'}
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, {}), env=env)
    assert "s3cret" not in str(caught.value)


def test_check_config_reads_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, {})
    done = subprocess.run(
        [sys.executable, "-m", "batchrelay", "check-config", "-c", str(path)],
        env={"BATCHRELAY_STORE__SYNCHRONOUS": "SOMETIMES", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "store.synchronous" in done.stderr


def test_the_example_documents_the_variables() -> None:
    text = (CONFIG / "example.yaml").read_text()
    assert "BATCHRELAY_<SECTION>__<KEY>" in text

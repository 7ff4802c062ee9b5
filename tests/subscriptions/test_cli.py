"""``batchrelay subscriptions`` on the configured store: add, list, show, rotate, test,
replay, disable, enable and rm, with the API's rules for what is accepted."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from batchrelay.cli import main
from tests.fakes import running_sink

from .support import Subscriber


def config(tmp_path: Path) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"store: {{url: 'sqlite:///{tmp_path}/relay.db'}}\nlog: {{level: warning}}\n"
        "subscriptions: {allow_http: true, allowed_networks: [127.0.0.0/8]}\n"
    )
    (tmp_path / "relay.db").touch()  # the daemon's store; commands never create one
    return str(path)


def run(capsys: Any, *argv: str) -> tuple[int, Any]:
    code = main(list(argv))
    out = capsys.readouterr().out.strip()
    return code, [json.loads(line) for line in out.splitlines()] if out else []


def test_the_subscription_commands(tmp_path: Path, capsys: Any) -> None:
    c = config(tmp_path)
    code, [added] = run(
        capsys,
        "subscriptions",
        "add",
        "http://127.0.0.1:9/hook",
        "--filter",
        '{"status": ["failed"]}',
        "--kind",
        "batch",
        "--header",
        "X-Team=cms",
        "-c",
        c,
    )
    assert code == 0 and added["secret"].startswith("whsec_")
    assert added["filter"] == {"status": ["failed"]} and added["headers"] == ["X-Team"]
    sid = added["id"]
    assert run(capsys, "subscriptions", "list", "-c", c)[1][0]["id"] == sid
    code, [shown] = run(capsys, "subscriptions", "show", sid, "-c", c)
    assert "secret" not in shown
    code, [rotated] = run(capsys, "subscriptions", "rotate", sid, "--overlap", "1h", "-c", c)
    assert rotated["secret"] != added["secret"] and rotated["previous_expires_at"]
    code, [off] = run(capsys, "subscriptions", "disable", sid, "-c", c)
    assert off["enabled"] is False
    code, [on] = run(capsys, "subscriptions", "enable", sid, "-c", c)
    assert on["enabled"] is True
    assert run(capsys, "subscriptions", "replay", sid, "--batch", "b-1", "-c", c) == (
        0,
        [{"replayed": 0}],
    )
    assert run(capsys, "subscriptions", "rm", sid, "-c", c) == (0, [{"removed": sid}])
    assert main(["subscriptions", "show", sid, "-c", c]) == 1
    assert "no subscription" in capsys.readouterr().err


def test_bad_input_is_refused_clearly(tmp_path: Path, capsys: Any) -> None:
    c = config(tmp_path)
    assert main(["subscriptions", "add", "http://10.0.0.1/x", "-c", c]) == 1
    assert "internal address" in capsys.readouterr().err
    assert (
        main(["subscriptions", "add", "http://127.0.0.1/x", "--filter", '{"x": 1}', "-c", c]) == 1
    )
    assert "filter" in capsys.readouterr().err
    assert main(["subscriptions", "show", "-c", c]) == 2


def test_the_test_command_sends_a_signed_ping(tmp_path: Path, capsys: Any) -> None:
    c = config(tmp_path)

    async def scenario() -> tuple[int, Any, Subscriber]:
        async with running_sink(Subscriber()) as subscriber:
            _, [added] = await asyncio.to_thread(
                run, capsys, "subscriptions", "add", subscriber.url, "-c", c
            )
            subscriber.secrets.append(added["secret"])
            result = await asyncio.to_thread(
                run, capsys, "subscriptions", "test", added["id"], "-c", c
            )
            return result[0], result[1], subscriber

    code, [answer], subscriber = asyncio.run(scenario())
    assert code == 0 and answer["ok"] is True and answer["status"] == 200
    [ping] = subscriber.received
    assert ping.body["type"] == "ping"

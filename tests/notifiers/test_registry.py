"""The ``receivers:`` config: one YAML example per channel parses, builds the right
notifier, keeps secrets hidden, rejects unknown keys and bad templates naming the key."""

from __future__ import annotations

import aiohttp
import pytest
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from batchrelay.errors import ConfigError
from batchrelay.notifiers import RECEIVER_ADAPTER, Notifier, ReceiverConfig, build_notifier
from batchrelay.notifiers.config import ChannelConfig

EXAMPLE = """
receivers:
  archive:
    type: webhook
    url: https://hooks.example.com/batchrelay?token=wh-tok-123456
    headers: {Authorization: "Bearer abc-123456"}
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
  ops-ding:
    type: dingtalk
    url: https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef
    secret: SEC0123456789abcdef
    at_mobiles: ["13800000000"]
  ops-lark:
    type: lark
    url: https://open.feishu.cn/open-apis/bot/v2/hook/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0
    secret: kR2xT9mQ4vN7pL1sW8yB3d
  ops-wecom:
    type: wecom
    url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7b2c-4bc4-97a0-0ec2d1fa5aaa
  ops-slack:
    type: slack
    url: https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX
    title: "{{ s.batch_key }} is {{ s.state }}"
  ops-teams:
    type: teams
    url: https://prod-00.westus.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=Zk3v9QW2
  ops-discord:
    type: discord
    url: https://discord.com/api/webhooks/123/abcDEF123456
    rate_limits: [[5, 2], [30, 60]]
  ops-telegram:
    type: telegram
    bot_token: "7312945610:AAH8xQw3Zr"
    chat_id: -1001234567890
  ops-mail:
    type: email
    host: smtp.example.com
    port: 587
    username: relay@example.com
    password: mail-pass-1234
    sender: batchrelay@example.com
    to: [oncall@example.com]
  prometheus:
    type: alertmanager
    url: http://alertmanager:9093
    labels: {team: media}
  forward:
    type: mns_topic
    endpoint: https://1234567890.mns.cn-hangzhou.aliyuncs.com
    topic: batch-notifications
    access_key_id: LTAI5tExample
    access_key_secret: mns-secret-1234
    template: '{"batch": {{ s.batch_key | tojson }}, "state": {{ s.state | tojson }}}'
"""

SECRETS = (
    "wh-tok-123456",
    "abc-123456",
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "0123456789abcdef",
    "kR2xT9mQ4vN7pL1sW8yB3d",
    "693a91f6",
    "XXXXXXXXXXXXXXXX",
    "Zk3v9QW2",
    "abcDEF123456",
    "AAH8xQw3Zr",
    "mail-pass-1234",
    "mns-secret-1234",
)


class Section(BaseModel):
    """How the daemon config embeds receivers: a dict name → ReceiverConfig."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    receivers: dict[str, ReceiverConfig]


def test_example_parses_and_builds(tmp_path: object) -> None:
    section = Section.model_validate(yaml.safe_load(EXAMPLE))
    kinds = {name: cfg.type for name, cfg in section.receivers.items()}
    assert kinds == {
        "archive": "webhook",
        "ops-ding": "dingtalk",
        "ops-lark": "lark",
        "ops-wecom": "wecom",
        "ops-slack": "slack",
        "ops-teams": "teams",
        "ops-discord": "discord",
        "ops-telegram": "telegram",
        "ops-mail": "email",
        "prometheus": "alertmanager",
        "forward": "mns_topic",
    }
    dumped = repr(section) + str(section) + section.model_dump_json()
    for secret in SECRETS:
        assert secret not in dumped


async def test_build_every_notifier() -> None:
    section = Section.model_validate(yaml.safe_load(EXAMPLE))
    async with aiohttp.ClientSession() as session:
        for name, cfg in section.receivers.items():
            notifier = build_notifier(name, cfg, session)
            assert isinstance(notifier, Notifier)
            assert (notifier.name, notifier.kind) == (name, cfg.type)
            await notifier.close()


def test_budgets_are_data() -> None:
    section = Section.model_validate(yaml.safe_load(EXAMPLE))
    budgets = {name: cfg.rate_limits for name, cfg in section.receivers.items()}
    assert budgets["ops-ding"] == ((20, 60.0),)
    assert budgets["ops-lark"] == ((5, 1.0), (100, 60.0))
    assert budgets["ops-discord"] == ((5, 2.0), (30, 60.0))
    assert budgets["archive"] == budgets["ops-mail"] == budgets["forward"] == ()
    assert all(isinstance(cfg, ChannelConfig) for cfg in section.receivers.values())


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"type": "carrier-pigeon"}, "does not match any of the expected tags"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
        ({"template": "{% if %}"}, "template syntax error at line 1"),
        ({"title": "{{ unclosed"}, "template syntax error at line 1"),
        ({"timeout": 0}, "greater than 0"),
        ({"rate_limits": [[0, 60]]}, "greater than 0"),
        ({"url": "file:///etc/passwd"}, "http"),
    ],
)
def test_rejections(patch: dict[str, object], message: str) -> None:
    base = {"type": "slack", "url": "https://hooks.slack.com/services/T/B/X"}
    with pytest.raises(ValidationError, match=message):
        RECEIVER_ADAPTER.validate_python(base | patch)


def test_template_errors_name_the_receiver_when_building() -> None:
    # Validation already refuses bad syntax; build_notifier refuses it too (for configs
    # built without validation), naming the receiver key.
    cfg = RECEIVER_ADAPTER.validate_python({"type": "slack", "url": "https://h/x"})
    broken = cfg.model_copy(update={"template": "{% for x in %}"})
    with pytest.raises(ConfigError, match=r"receivers\.ops-slack\.template: template syntax error"):
        build_notifier("ops-slack", broken, None)  # type: ignore[arg-type]

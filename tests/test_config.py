"""Settings: strict validation, ${ENV} substitution, and shipped files that stay valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from batchrelay.config import Settings, load, substitute_env
from batchrelay.errors import ConfigError

CONFIG = Path(__file__).parents[1] / "config"


@pytest.mark.parametrize("name", ["example.yaml", "local.yaml"])
def test_shipped_configs_are_valid(name: str) -> None:
    assert isinstance(load(CONFIG / name, env={}), Settings)


def keys(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    """Every YAML key a model accepts, nested models included (each visited once)."""
    seen = set() if seen is None else seen
    seen.add(model)
    found: set[str] = set()
    for name, field in model.model_fields.items():
        found.add(field.alias or name)
        annotation: Any = field.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            is_model = isinstance(candidate, type) and issubclass(candidate, BaseModel)
            if is_model and candidate not in seen:
                found |= keys(candidate, seen)
    return found


def test_example_documents_every_key() -> None:
    text = (CONFIG / "example.yaml").read_text()
    missing = sorted(k for k in keys(Settings) if f"{k}:" not in text)
    assert missing == []


def test_env_substitution() -> None:
    env = {"TOKEN": "abc", "EMPTY": ""}
    tree = {"a": "${TOKEN}", "b": "x-${TOKEN}-y", "c": "${MISSING:-fallback}", "d": "${EMPTY}",
            "e": ["${TOKEN}"], "f": 3}  # fmt: skip
    assert substitute_env(tree, env) == {
        "a": "abc", "b": "x-abc-y", "c": "fallback", "d": None, "e": ["abc"], "f": 3,
    }  # fmt: skip
    with pytest.raises(ConfigError, match="MISSING"):
        substitute_env("${MISSING}", env)


def test_secret_from_env_is_not_in_repr(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("api:\n  token: ${API_TOKEN}\n")
    settings = load(path, env={"API_TOKEN": "s3cr3t-value"})
    assert settings.api.token is not None
    assert settings.api.token.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings) and "s3cr3t-value" not in str(settings)


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValueError):
        settings.server.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("pem", "url", "says"),
    [
        ("missing.pem", "https://mnstest.oss-cn-hangzhou.aliyuncs.com/x.pem", "cannot read"),
        ("text.pem", "https://mnstest.oss-cn-hangzhou.aliyuncs.com/x.pem", "not a PEM"),
        ("good.pem", "https://attacker.example/x.pem", "not under cert_url_prefixes"),
    ],
)
def test_a_bad_pinned_certificate_is_named_by_its_key(
    tmp_path: Path, pem: str, url: str, says: str
) -> None:
    (tmp_path / "text.pem").write_text("not a certificate")
    (tmp_path / "good.pem").write_bytes(
        (Path(__file__).parents[1] / "src/batchrelay/emulator/legacy_push_cert.pem").read_bytes()
    )
    path = tmp_path / "c.yaml"
    path.write_text(f"ingress:\n  mns_push:\n    cert_files:\n      {url!r}: {tmp_path / pem}\n")
    with pytest.raises(ConfigError) as caught:
        load(path, env={})
    message = str(caught.value)
    assert "ingress.mns_push" in message and "cert_files" in message and says in message

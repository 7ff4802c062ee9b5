"""``batchrelay completion SHELL``: a script generated from the parser, that bash runs."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from batchrelay.cli.parser import build_parser as _parser


def completion(shell: str) -> str:
    done = subprocess.run([sys.executable, "-m", "batchrelay", "completion", shell],
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return done.stdout


def complete_in_bash(script: Path, words: list[str], cwd: Path) -> list[str]:
    """What bash offers for the last of ``words`` (Tab after the line), with the script."""
    line = " ".join(shlex.quote(w) if w else "''" for w in words)
    program = (
        f"source {shlex.quote(str(script))}\n"
        f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}\n"
        f'COMP_LINE="${{COMP_WORDS[*]}}"; COMP_POINT=${{#COMP_LINE}}\n'
        "_shtab_batchrelay; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], cwd=cwd,
                          capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    return [w for w in done.stdout.splitlines() if w]


def test_bash_completes_commands_options_choices_and_config_files(tmp_path: Path) -> None:
    script = tmp_path / "batchrelay.bash"
    script.write_text(completion("bash"))
    (tmp_path / "relay.yaml").write_text("{}\n")
    cases = {
        ("batchrelay", "che"): ["check-config"],
        ("batchrelay", "silence", ""): ["add", "list", "expire"],
        ("batchrelay", "silence", "list", "--sta"): ["--state"],
        ("batchrelay", "silence", "list", "--state", ""): ["active", "pending", "expired"],
        ("batchrelay", "run", "-c", "rel"): ["relay.yaml"],
        ("batchrelay", "completion", ""): ["bash", "zsh", "tcsh"],
    }
    for words, expected in cases.items():
        assert complete_in_bash(script, list(words), tmp_path) == expected, words


def test_every_command_is_in_every_shells_script() -> None:
    [sub] = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    commands = list(sub.choices)
    assert "run" in commands and "completion" in commands
    for shell in ("bash", "zsh", "tcsh"):
        text = completion(shell)
        for name in commands:
            assert name in text, (shell, name)


def test_an_unknown_shell_is_a_usage_error() -> None:
    done = subprocess.run([sys.executable, "-m", "batchrelay", "completion", "fish"],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2
    assert "invalid choice" in done.stderr

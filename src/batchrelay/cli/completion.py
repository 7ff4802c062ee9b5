"""Shell completion for the ``batchrelay`` command, generated from its own parser.

shtab writes a static script (bash, zsh or tcsh) from the argparse parser: every command,
option and choice the parser knows, and file names where an argument is a file. Pressing
Tab runs no Python, so it is instant, and the script cannot drift from the parser because
it is made from it: ``batchrelay completion bash`` prints the one for this version.
"""

from __future__ import annotations

import argparse

import shtab

SHELLS = ("bash", "zsh", "tcsh")
#: Arguments that name a file (or ``-`` for stdin): completed with file names.
FILE_ARGUMENTS = frozenset({"config", "file", "event_file"})


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script of ``parser`` for ``shell``."""
    for action in _actions(parser):
        if action.dest in FILE_ARGUMENTS:
            action.complete = shtab.FILE  # type: ignore[attr-defined]
    text: str = shtab.complete(parser, shell=shell)
    return text


def _actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    found = list(parser._actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _actions(sub)
    return found

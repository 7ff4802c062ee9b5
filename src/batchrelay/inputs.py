"""Split a file given to ``batchrelay parse`` or ``batchrelay ingest`` into inputs.

A file is either one raw body (a JSON document, an MNS XML notification, base64) or JSON
lines, one input per line. The whole file is tried first, so a pretty-printed JSON
document is one input; only when that fails and the file has several lines is each
non-empty line an input of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator


def split_inputs(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, raw bytes) for each input; line number 0 means the whole file."""
    stripped = data.strip()
    lines = [line for line in stripped.splitlines() if line.strip()]
    if len(lines) <= 1 or _is_one_json_document(stripped) or stripped.startswith(b"<"):
        yield 0, stripped
        return
    for number, line in enumerate(stripped.splitlines(), start=1):
        if line.strip():
            yield number, line.strip()


def _is_one_json_document(data: bytes) -> bool:
    try:
        json.loads(data)
    except (ValueError, RecursionError):
        return False
    return True

"""Runs a batchrelay command in this process with two tracers, for bench/spikes.py.

    python bench/traced.py OUT batchrelay-args...

Appended to OUT, one line each, monotonic clock in seconds:

* ``gc START SECONDS GENERATION COLLECTED``: every collection of the oldest generation,
  and any other that took over a millisecond (``gc.callbacks``). A collection holds the
  GIL: no thread of the daemon runs meanwhile;
* ``stall START SECONDS``: a thread that asks to wake every 5 ms woke over 5 ms late: for
  that long no thread of this process could take the GIL from whoever held it, or the
  process had no CPU;
* ``thread TID NAME``: each thread's OS id and Python name, once it is seen (checked every
  second), so that its CPU and run-queue times can be told apart.

Nothing of batchrelay is changed or imported here but its command line.
"""

from __future__ import annotations

import gc
import itertools
import runpy
import sys
import threading
import time
from typing import Any

PERIOD = 0.005


def main() -> None:
    out = open(sys.argv[1], "a", buffering=1)  # noqa: SIM115 - open as long as the process
    began: list[float] = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.monotonic()
            return
        took = time.monotonic() - began[0]
        if info["generation"] == 2 or took > 0.001:
            out.write(f"gc {began[0]:.6f} {took:.6f} {info['generation']} {info['collected']}\n")

    def probe() -> None:
        named: set[int | None] = set()
        for n in itertools.count():
            if n % int(1 / PERIOD) == 0:
                for thread in threading.enumerate():
                    if thread.native_id not in named:
                        named.add(thread.native_id)
                        out.write(f"thread {thread.native_id} {thread.name}\n")
            due = time.monotonic() + PERIOD
            time.sleep(PERIOD)
            late = time.monotonic() - due
            if late > PERIOD:
                out.write(f"stall {due:.6f} {late:.6f}\n")

    gc.callbacks.append(on_gc)
    threading.Thread(target=probe, name="bench-stall-probe", daemon=True).start()
    sys.argv = ["batchrelay", *sys.argv[2:]]
    runpy.run_module("batchrelay", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

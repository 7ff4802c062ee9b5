"""``python -m batchrelay.emulator``: the emulator's own command line."""

from batchrelay.emulator.cli import main

raise SystemExit(main())

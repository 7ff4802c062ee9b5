"""``python -m batchrelay``: the command line (``cli.main``)."""

from batchrelay.cli import main

raise SystemExit(main())

from batchrelay.emulator.cli import main

raise SystemExit(main())

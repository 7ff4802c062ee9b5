from batchrelay.cli import main

raise SystemExit(main())

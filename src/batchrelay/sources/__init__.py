"""Sources: where input comes from (MNS queues, signed pushes) and the pipeline every input
takes into the store (``pipeline``: decode, parse, commit, or quarantine)."""

"""Events: notification bodies unwrapped (``decode``), typed (``parse``, ``models``) and
placed in their batch (``batchkey``). Pure, no I/O."""

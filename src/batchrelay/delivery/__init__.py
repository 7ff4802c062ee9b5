"""Delivery: the dispatcher and its stages (``hold``, ``breaker``, ``budget``, ``send``,
``record``, composed as in ``stages``), and the retry, budget and breaker policies."""

"""Alerts on batch health: rules written in a small, safe expression language over the
ledger figures of one batch (``rules.py``, ``expr.py``), and what happens once they fire."""

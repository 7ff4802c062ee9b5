"""The Store conformance suite: every implementation must pass it unchanged.

Subclass :class:`StoreConformance` in a ``test_*.py`` module (the class name must start
with ``Test``) and provide a ``make_store`` fixture returning a :class:`StoreFactory`:
``await make_store(name, on_group_commit=hook)`` gives a *started* store; the same
``name`` after a ``close()`` reopens the same data; the fixture closes whatever is still
open at teardown.
"""

from __future__ import annotations

from .conformance_api import ApiConformance
from .conformance_dashboard import DashboardConformance
from .conformance_ledger import LedgerConformance
from .conformance_support import StoreFactory, commit_all, commit_concurrently

__all__ = ["StoreConformance", "StoreFactory", "commit_all", "commit_concurrently"]


class StoreConformance(LedgerConformance, ApiConformance, DashboardConformance):
    """Every behaviour a Store must have; see ``store/base.py`` and ``store/ledger.py``."""

"""The Store conformance suite: every implementation must pass it unchanged.

Subclass :class:`StoreConformance` in a ``test_*.py`` module (the class name must start
with ``Test``) and provide a ``make_store`` fixture returning a :class:`StoreFactory`:
``await make_store(name, on_group_commit=hook, hooks=CommitHooks(...))`` gives a *started*
store, whose commit hook does what ``hooks`` says in that store's own hook type; the same
``name`` after a ``close()`` reopens the same data; the fixture closes whatever is still
open at teardown.
"""

from __future__ import annotations

from .conformance_actions import ActionConformance
from .conformance_alerts import AlertStoreConformance
from .conformance_api import ApiConformance
from .conformance_dashboard import DashboardConformance
from .conformance_ledger import LedgerConformance
from .conformance_outbox import OutboxConformance
from .conformance_overview import OverviewConformance
from .conformance_retention import RetentionConformance
from .conformance_subscriptions import SubscriptionConformance
from .conformance_support import CommitHooks, StoreFactory, commit_all, commit_concurrently

__all__ = ["CommitHooks", "StoreConformance", "StoreFactory", "commit_all", "commit_concurrently"]


class StoreConformance(
    LedgerConformance,
    ApiConformance,
    DashboardConformance,
    OutboxConformance,
    AlertStoreConformance,
    OverviewConformance,
    ActionConformance,
    SubscriptionConformance,
    RetentionConformance,
):
    """Every behaviour a Store must have; see ``store/base.py`` and ``store/ledger.py``, the
    outbox and the alert state (``store/contracts.py``) in it."""

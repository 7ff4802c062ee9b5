"""The Store conformance suite, run against every implementation (see ``conftest.make_store``)."""

from __future__ import annotations

from .conformance import StoreConformance


class TestStoreConformance(StoreConformance):
    pass

"""Fixtures for the HTTP tests. The push endpoint tests (``test_ingest.py``) sign with the
signature tests' key and serve certificates from their server: the same fixtures."""

from __future__ import annotations

from tests.sources.conftest import cert_server, other_key, signing_key

__all__ = ["cert_server", "other_key", "signing_key"]  # fixtures, found here by pytest

"""Fixtures for tests/signals."""

from __future__ import annotations

import pytest
from signals_junction import make_junction

from signals import SignalModel


@pytest.fixture
def junction() -> SignalModel:
    return make_junction()

"""Shared test fixtures: one local Ray for the whole session, and the shared fixtures folder."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


@pytest.fixture(scope="session")
def ray_session():
    """Local Ray with 2 CPUs, started once for every test that needs it."""
    import ray

    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """../shared/fixtures, or a clean skip when the project is checked out without it."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip("../shared/fixtures is absent")
    return SHARED_FIXTURES

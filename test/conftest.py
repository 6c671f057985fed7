"""Shared test set-up.

Tests that start ROS 2 nodes get a ROS domain of their own and localhost-only discovery, so two
test runs (or a test and a demo) on one machine never hear each other.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault('ROS_DOMAIN_ID', str(100 + os.getpid() % 100))
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')


@pytest.fixture(scope='session')
def root() -> Path:
    return ROOT


@pytest.fixture(scope='session')
def ros_env() -> dict[str, str]:
    """Environment for child processes that run nodes (what ./smart-store sets up)."""
    try:
        import smart_store.msg  # noqa: F401
    except ImportError as err:  # pragma: no cover - wrong invocation, not a test result
        pytest.fail(f'the built interfaces are not importable ({err}); run the suite with '
                    '`./smart-store test` after `./smart-store setup`')
    env = dict(os.environ)
    env['PYTHONUNBUFFERED'] = '1'
    return env


@pytest.fixture(scope='session')
def python() -> str:
    return sys.executable

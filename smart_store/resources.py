"""Where the package's data files (config/, launch/, rviz/) are, on either kind of install.

On a colcon install they live in ``share/smart_store`` (found through the ament index); when the
code runs from the source tree (``./smart-store`` on a pip install) they sit beside the
``smart_store`` package folder.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

PACKAGE = 'smart_store'


def _candidates() -> list[Path]:
    roots = [Path(__file__).resolve().parent.parent]
    try:
        from ament_index_python.packages import (  # noqa: PLC0415 - optional dependency
            PackageNotFoundError,
            get_package_share_directory,
        )
    except ImportError:
        return roots
    # OSError: AMENT_PREFIX_PATH unset (plain `python -m pytest` on a pip install): no index
    with contextlib.suppress(PackageNotFoundError, ValueError, LookupError, OSError):
        roots.append(Path(get_package_share_directory(PACKAGE)))
    return roots


def data_path(*parts: str) -> Path:
    """Path of a packaged data file, e.g. ``data_path('config', 'demo_store.yaml')``.

    The source tree wins over an install so that edits are seen without rebuilding; if neither
    has the file the source-tree path is returned (and the caller's open() names it).
    """
    candidates = [root.joinpath(*parts) for root in _candidates()]
    for path in candidates:
        if path.exists():
            return path
    return candidates[0]


def default_store_config() -> Path:
    """The demo store shipped with the package."""
    return data_path('config', 'demo_store.yaml')


def node_params_file() -> Path:
    """The ``ros__parameters`` file with every node's defaults."""
    return data_path('config', 'nodes.yaml')

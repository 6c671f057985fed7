"""Errors raised by the geometry helpers.

Geometry code is used both while validating the store configuration and at runtime (tracking,
reach detection). It raises its own exception type so that the config loader can turn a bad
camera pose into a ``ConfigError`` that names the offending YAML key, while runtime callers can
still catch a single, specific exception instead of a bare ``ValueError``.
"""

from __future__ import annotations

__all__ = ["GeometryError"]


class GeometryError(ValueError):
    """A geometric input is degenerate or malformed (e.g. a camera looking straight down).

    Subclasses ``ValueError`` so generic callers that already catch ``ValueError`` keep working.
    """

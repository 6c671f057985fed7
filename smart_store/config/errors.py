"""The one exception type of the store configuration.

Every problem in a store config is reported as a single ``ConfigError`` that names the file,
the key path inside it (``cameras[2].intrinsics.fx``) and what is wrong. Its string form is one
line, ``"<file>: <key>: <problem>"``, so the CLI can print it to stderr verbatim, editors can
jump to the file, and nobody has to read a traceback to fix a typo in YAML.
"""

from __future__ import annotations

__all__ = ["ConfigError"]


def _one_line(text: str) -> str:
    """Collapse all whitespace runs (newlines from YAML parser messages included) to one space."""
    return " ".join(str(text).split())


class ConfigError(ValueError):
    """A store configuration file is missing, unreadable or invalid.

    Attributes:
        file: Path of the configuration file as given by the caller.
        key: Key path of the offending value, e.g. ``shelves[1].levels[0].lanes[2].x``; the
            pseudo keys ``<file>`` (cannot read the file), ``<yaml>`` (not valid YAML) and
            ``<root>`` (top level is not a mapping) cover whole-document problems.
        problem: Human readable description, one line.
    """

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = _one_line(file)
        self.key = _one_line(key)
        self.problem = _one_line(problem)
        # Keep the three parts as args so the error pickles (multiprocessing, launch) intact.
        super().__init__(self.file, self.key, self.problem)

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.problem}"

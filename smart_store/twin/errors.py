"""The one exception type of twin scenarios.

Every problem in a scenario file (or a scenario built in code and checked with
``parse_scenario``) is reported as a single ``ScenarioError`` naming the file, the key path inside
it (``shoppers[2].actions[1].pick.lane``) and what is wrong. Its string form is one line,
``"<file>: <key>: <problem>"``, the same shape as ``smart_store.config.ConfigError``, so the CLI
can print it verbatim and editors can jump to the file.
"""

from __future__ import annotations

__all__ = ["ScenarioError"]


def _one_line(text: str) -> str:
    """Collapse all whitespace runs (newlines from YAML parser messages included) to one space."""
    return " ".join(str(text).split())


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable or invalid.

    Attributes:
        file: Path of the scenario file as given (or a pseudo name such as ``<generated>``).
        key: Key path of the offending value, e.g. ``shoppers[0].actions[3].put_back.sku``; the
            pseudo keys ``<file>`` (cannot read the file), ``<yaml>`` (not valid YAML) and
            ``<root>`` (top level is not a mapping) cover whole-document problems.
        problem: Human readable description, one line.
    """

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = _one_line(file)
        self.key = _one_line(key)
        self.problem = _one_line(problem)
        # Keep the three parts as args so the error pickles (multiprocessing) intact.
        super().__init__(self.file, self.key, self.problem)

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.problem}"

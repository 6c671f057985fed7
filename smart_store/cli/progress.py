"""A one-line progress bar for long commands (sim, render, demo), quiet when not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, total: float, unit: str = 's', out: TextIO | None = None,
                 min_interval: float = 0.2) -> None:
        self.label, self.total, self.unit = label, max(total, 1e-9), unit
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self.start = time.monotonic()
        self._last = 0.0
        self._min_interval = min_interval
        self._printed_pct = -1

    def update(self, done: float, extra: str = '') -> None:
        now = time.monotonic()
        pct = int(100 * min(done / self.total, 1.0))
        if self.tty:
            if now - self._last < self._min_interval and done < self.total:
                return
            self._last = now
            width = 30
            filled = int(width * pct / 100)
            elapsed = now - self.start
            rate = done / elapsed if elapsed > 0 else 0.0
            line = (f'\r{self.label} [{"#" * filled}{"." * (width - filled)}] {pct:3d}% '
                    f'{done:.1f}/{self.total:.1f} {self.unit} ({rate:.2f} {self.unit}/s) {extra}')
            self.out.write(line[:160])
            self.out.flush()
        elif pct // 10 != self._printed_pct // 10:  # logs: a line every 10 %
            self._printed_pct = pct
            self.out.write(f'{self.label}: {pct}% {extra}\n')
            self.out.flush()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def done(self, message: str = '') -> None:
        if self.tty:
            self.out.write('\r' + ' ' * 160 + '\r')
        elapsed = time.monotonic() - self.start
        self.out.write(f'{self.label}: done in {elapsed:.1f} s {message}\n')
        self.out.flush()

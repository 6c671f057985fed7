"""Camera sources read through OpenCV, with reconnection: the logic of the camera driver.

A source is named by a URI:
  ``device:0`` or ``/dev/video0``   a V4L2 device (index or path)
  ``file:/path/video.mp4`` or a path to a video file
  ``rtsp://...``, ``http(s)://...``  a network stream
  ``dir:/path`` or a directory       image files (png/jpg/bmp), in name order

``ReconnectingSource`` never raises on a bad or vanished source: a failed open or read closes it,
counts it, and retries with exponential backoff. Pure Python + OpenCV; no ROS.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

SourceKind = Literal['device', 'file', 'stream', 'dir']
VIDEO_EXTENSIONS = {'.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v', '.mjpeg', '.mjpg'}
IMAGE_EXTENSIONS = {'.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.ppm', '.pgm'}


class SourceError(ValueError):
    """A source URI that cannot mean anything (reported once, at start-up)."""


@dataclass(frozen=True)
class SourceSpec:
    kind: SourceKind
    target: str | int
    loop: bool = False

    def describe(self) -> str:
        return f'{self.kind}:{self.target}'


def parse_source(uri: str, loop: bool = False) -> SourceSpec:
    """Interpret a source URI (see the module docstring)."""
    text = uri.strip()
    if not text:
        raise SourceError('empty camera source')
    if text.startswith('device:'):
        dev = text[len('device:'):]
        return SourceSpec('device', int(dev) if dev.isdigit() else dev)
    if re.match(r'^/dev/video\d+$', text):
        return SourceSpec('device', text)
    if re.match(r'^(rtsp|rtsps|http|https|udp|tcp)://', text):
        return SourceSpec('stream', text, loop)
    if text.startswith('file:'):
        return SourceSpec('file', text[len('file:'):], loop)
    if text.startswith('dir:'):
        return SourceSpec('dir', text[len('dir:'):], loop)
    path = Path(text)
    if path.is_dir():
        return SourceSpec('dir', text, loop)
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return SourceSpec('file', text, loop)
    raise SourceError(f'cannot tell what camera source {uri!r} is (use device:, file:, dir: '
                      'or a stream URL)')


class _DirectoryReader:
    """Image files of a folder, one per read(), in name order (natural sort)."""

    def __init__(self, folder: str, loop: bool) -> None:
        def key(p: Path) -> list[Any]:
            return [int(s) if s.isdigit() else s for s in re.split(r'(\d+)', p.name)]

        self.files = sorted((p for p in Path(folder).iterdir()
                             if p.suffix.lower() in IMAGE_EXTENSIONS), key=key)
        self.loop = loop
        self.index = 0

    def isOpened(self) -> bool:  # noqa: N802 - cv2.VideoCapture's name
        return bool(self.files)

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.index >= len(self.files):
            if not self.loop or not self.files:
                return False, None
            self.index = 0
        path = self.files[self.index]
        self.index += 1
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:  # vanished or unreadable: a failure, not the end of the folder
            raise OSError(f'cannot read {path}')
        return True, image

    def release(self) -> None:
        self.files = []

    def get(self, prop: int) -> float:
        return 0.0


def open_capture(spec: SourceSpec) -> Any:
    """An object with cv2.VideoCapture's isOpened/read/release/get for the spec."""
    if spec.kind == 'dir':
        return _DirectoryReader(str(spec.target), spec.loop)
    if spec.kind == 'device':
        return cv2.VideoCapture(spec.target, cv2.CAP_V4L2) if isinstance(spec.target, int) \
            else cv2.VideoCapture(str(spec.target), cv2.CAP_V4L2)
    if spec.kind == 'file' and not os.path.exists(str(spec.target)):
        return _Closed()
    return cv2.VideoCapture(str(spec.target), cv2.CAP_FFMPEG)


class _Closed:
    def isOpened(self) -> bool:  # noqa: N802
        return False

    def read(self) -> tuple[bool, None]:
        return False, None

    def release(self) -> None:
        return None

    def get(self, prop: int) -> float:
        return 0.0


@dataclass
class SourceStats:
    frames: int = 0
    dropped: int = 0            # reads that failed on an open source
    open_failures: int = 0
    reconnects: int = 0
    end_of_file: int = 0
    state: str = 'closed'
    last_error: str = ''
    history: list[str] = field(default_factory=list)


class ReconnectingSource:
    """A camera source that survives unplugging, stalls and garbage: it reconnects with
    exponential backoff (``backoff_min`` doubling up to ``backoff_max`` seconds)."""

    def __init__(self, spec: SourceSpec, *, backoff_min: float = 0.5, backoff_max: float = 10.0,
                 opener: Callable[[SourceSpec], Any] = open_capture,
                 max_failed_reads: int = 5) -> None:
        self.spec = spec
        self.stats = SourceStats()
        self._opener = opener
        self._cap: Any = None
        self._backoff_min = backoff_min
        self._backoff_max = backoff_max
        self._backoff = backoff_min
        self._next_attempt = 0.0
        self._failed_reads = 0
        self._max_failed_reads = max_failed_reads
        self._ever_opened = False

    @property
    def is_open(self) -> bool:
        return self._cap is not None

    def fps(self) -> float:
        """The source's own frame rate if it reports one, else 0."""
        if self._cap is None:
            return 0.0
        value = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        return value if np.isfinite(value) and 0.0 < value < 1000.0 else 0.0

    def _note(self, text: str) -> None:
        self.stats.last_error = text
        self.stats.history.append(text)
        del self.stats.history[:-20]

    def _close(self, reason: str, now: float) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self.stats.state = 'closed'
        self._note(reason)
        self._next_attempt = now + self._backoff
        self._backoff = min(self._backoff * 2.0, self._backoff_max)

    def read(self, now: float) -> np.ndarray | None:
        """One frame, or None (not open yet, backing off, or a failed read)."""
        if self._cap is None:
            if now < self._next_attempt:
                return None
            try:
                cap = self._opener(self.spec)
                opened = bool(cap.isOpened())
            except Exception as err:  # noqa: BLE001 - OpenCV back ends raise anything
                cap, opened = None, False
                self._note(f'open failed: {err}')
            if not opened:
                self.stats.open_failures += 1
                if cap is not None:
                    cap.release()
                self._close(f'cannot open {self.spec.describe()}', now)
                return None
            self._cap = cap
            self.stats.state = 'open'
            if self._ever_opened:
                self.stats.reconnects += 1
            self._ever_opened = True
            self._failed_reads = 0
        failed = False
        try:
            ok, frame = self._cap.read()
        except Exception as err:  # noqa: BLE001
            ok, frame, failed = False, None, True
            self._note(f'read failed: {err}')
        if ok and frame is not None and frame.size:
            self.stats.frames += 1
            self._failed_reads = 0
            self._backoff = self._backoff_min
            return frame
        if self.spec.kind in ('file', 'dir') and not failed:
            # End of a file: loop by reopening, else stay closed (a finished recording).
            self.stats.end_of_file += 1
            if self.spec.loop:
                self._cap.release()
                self._cap = None
                self._next_attempt = now
                return None
            self._close('end of file', now)
            self._next_attempt = float('inf')
            return None
        self.stats.dropped += 1
        self._failed_reads += 1
        if self._failed_reads >= self._max_failed_reads:
            self._close(f'{self._failed_reads} failed reads', now)
        return None

    def finished(self) -> bool:
        """A non-looping file or folder that reached its end."""
        return self._next_attempt == float('inf')

    def release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

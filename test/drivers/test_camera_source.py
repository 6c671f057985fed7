"""Camera sources: URIs, files, folders, reconnection and a source that vanishes."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from smart_store.drivers.camera_source import (
    ReconnectingSource,
    SourceError,
    SourceSpec,
    parse_source,
)


def write_video(path: Path, frames: int = 12, size: tuple[int, int] = (64, 48)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 10.0, size)
    assert writer.isOpened()
    for i in range(frames):
        img = np.full((size[1], size[0], 3), (i * 20) % 255, np.uint8)
        writer.write(img)
    writer.release()
    return path


def write_folder(folder: Path, frames: int = 5) -> Path:
    folder.mkdir()
    for i in range(frames):
        cv2.imwrite(str(folder / f'frame_{i}.png'), np.full((8, 8, 3), (i * 20) % 256, np.uint8))
    return folder


def test_parse_source(tmp_path: Path) -> None:
    assert parse_source('device:0') == SourceSpec('device', 0)
    assert parse_source('/dev/video2') == SourceSpec('device', '/dev/video2')
    assert parse_source('rtsp://cam/stream').kind == 'stream'
    assert parse_source('http://cam/mjpg').kind == 'stream'
    assert parse_source('file:/x.mp4', loop=True) == SourceSpec('file', '/x.mp4', True)
    assert parse_source(str(tmp_path)).kind == 'dir'
    assert parse_source('clip.MP4').kind == 'file'
    with pytest.raises(SourceError):
        parse_source('what-is-this')
    with pytest.raises(SourceError):
        parse_source('  ')


def test_video_file_reads_every_frame_then_ends(tmp_path: Path) -> None:
    src = ReconnectingSource(parse_source(str(write_video(tmp_path / 'a.mp4'))))
    frames = [f for f in (src.read(float(i)) for i in range(20)) if f is not None]
    assert len(frames) == 12 and frames[0].shape == (48, 64, 3)
    assert src.finished() and src.stats.end_of_file == 1


def test_looping_file(tmp_path: Path) -> None:
    src = ReconnectingSource(parse_source(str(write_video(tmp_path / 'a.mp4', 4)), loop=True))
    got = sum(src.read(float(i)) is not None for i in range(20))
    assert got >= 12 and not src.finished()


def test_folder_in_natural_order(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / 'imgs', frames=12)
    src = ReconnectingSource(parse_source(f'dir:{folder}'))
    values = [int(f[0, 0, 0]) for f in (src.read(0.0) for _ in range(12)) if f is not None]
    assert values == [i * 20 for i in range(12)]


def test_folder_that_vanishes_mid_run_is_retried_with_backoff(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / 'imgs', frames=6)
    src = ReconnectingSource(parse_source(f'dir:{folder}'), backoff_min=0.5, backoff_max=4.0,
                             max_failed_reads=2)
    assert src.read(0.0) is not None
    shutil.rmtree(folder)
    now = 0.0
    for _ in range(6):
        now += 0.1
        assert src.read(now) is None  # never raises
    assert src.stats.dropped >= 2 and not src.is_open
    # While backing off, no attempt is made; attempts follow an exponential schedule.
    failures_before = src.stats.open_failures
    src.read(now + 0.01)
    assert src.stats.open_failures == failures_before
    write_folder(folder, frames=3)
    frame = None
    for step in range(200):
        frame = src.read(now + 0.1 * step)
        if frame is not None:
            break
    assert frame is not None and src.stats.reconnects == 1


def test_missing_device_never_raises(tmp_path: Path) -> None:
    src = ReconnectingSource(parse_source(f'file:{tmp_path / "nope.mp4"}'), backoff_min=0.1)
    for i in range(5):
        assert src.read(float(i)) is None
    assert src.stats.open_failures == 5 and src.stats.state == 'closed'


def test_an_http_stream_is_read_reconnected_and_survives_its_server(tmp_path: Path) -> None:
    """A real HTTP stream through OpenCV's FFmpeg back end: frames, the stream ending (failed
    reads, counted), a reconnect with backoff, then the server gone (open failures, no raise)."""
    import functools
    import http.server
    import threading

    write_video(tmp_path / 'cam.mp4', frames=10)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f'http://127.0.0.1:{server.server_address[1]}/cam.mp4'
    spec = parse_source(url)
    assert spec.kind == 'stream'
    src = ReconnectingSource(spec, backoff_min=0.1, backoff_max=0.4)
    t = 0.0

    def frames(n_reads: int) -> int:
        nonlocal t
        got = 0
        for _ in range(n_reads):
            t += 0.05
            got += src.read(t) is not None
        return got

    try:
        assert frames(10) == 10 and src.stats.state == 'open'
        assert frames(5) == 0                        # the stream ended: failed reads
        assert src.stats.dropped == 5 and src.stats.state == 'closed'
        assert frames(30) >= 10 and src.stats.reconnects >= 1  # back after the backoff
    finally:
        server.shutdown()
        server.server_close()
    assert frames(60) == 0                           # nobody serves it any more
    assert src.stats.open_failures >= 2 and src.stats.state == 'closed'


def test_a_missing_v4l2_device_never_raises() -> None:
    src = ReconnectingSource(parse_source('device:63'), backoff_min=0.1)
    for i in range(3):
        assert src.read(float(i)) is None
    assert src.stats.open_failures == 3 and src.stats.state == 'closed'

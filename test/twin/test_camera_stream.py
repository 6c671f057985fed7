"""The twin's cameras as MJPEG-over-HTTP streams, read back through OpenCV as camera_driver does."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from smart_store.drivers.camera_source import ReconnectingSource, parse_source
from smart_store.twin.camera_stream import MjpegStreams, StreamError, encode_jpeg


def pattern(k: int, h: int = 120, w: int = 160, grain: bool = False) -> np.ndarray:
    """Frame ``k``: a grey level in the top rows that says which frame it is (mod 100), a bar
    that moves, and (``grain``) incompressible noise below, for big JPEGs."""
    img = np.full((h, w, 3), 20 + 2 * (k % 100), np.uint8)
    img[h // 3:h // 2, (3 * k) % (w - 10):(3 * k) % (w - 10) + 10] = (0, 0, 255)
    if grain:
        img[h // 2:] = np.random.default_rng(k).integers(0, 256, (h - h // 2, w, 3))
    return img


def frame_index(img: np.ndarray) -> int:
    return round((float(np.median(img[:10, :, 0])) - 20) / 2)


class Feeder:
    """Publishes frame k of every camera at ``fps`` in a thread, remembering when."""

    def __init__(self, streams: MjpegStreams, cams: list[str], fps: float = 30.0,
                 big: bool = False) -> None:
        self.sent: dict[int, float] = {}     # frame index mod 100 -> when it was published
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(streams, cams, fps, big),
                                        daemon=True)
        self._thread.start()

    def _run(self, streams: MjpegStreams, cams: list[str], fps: float, big: bool) -> None:
        k = 0
        frames = ([encode_jpeg(pattern(i, 480, 640, grain=True), 95) for i in range(100)]
                  if big else None)
        while not self._stop.wait(1.0 / fps):
            jpeg = frames[k % 100] if frames else encode_jpeg(pattern(k), 95)
            self.sent[k % 100] = time.monotonic()
            self.count = k + 1
            for cam in cams:
                streams.publish(cam, jpeg, stamp_ns=k)
            k += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)


def test_opencv_reads_each_camera_its_frames_as_they_are_published() -> None:
    streams = MjpegStreams(['cam_a', 'cam_b'])
    feeder = Feeder(streams, ['cam_a', 'cam_b'])
    try:
        assert streams.url('cam_a') == f'http://127.0.0.1:{streams.port}/cam_a'
        caps = {cam: cv2.VideoCapture(url, cv2.CAP_FFMPEG) for cam, url in streams.urls().items()}
        assert all(c.isOpened() for c in caps.values())
        assert streams.clients('cam_a') == 1 and streams.clients('cam_b') == 1
        got: dict[str, list[int]] = {'cam_a': [], 'cam_b': []}
        latency = []
        for _ in range(20):
            for cam, cap in caps.items():
                ok, img = cap.read()
                assert ok and img.shape == (120, 160, 3)
                k = frame_index(img)
                got[cam].append(k)
                if cam == 'cam_a':
                    latency.append(time.monotonic() - feeder.sent[k])
                # the frame is the one published, up to JPEG: bar at its place
                assert np.abs(img.astype(int) - pattern(k).astype(int)).mean() < 3.0
        for ks in got.values():   # consecutive frames, none twice, none lost at 30 fps
            assert [(k - ks[0]) % 100 for k in ks] == list(range(20))
        assert float(np.median(latency)) < 0.1    # seconds, read right after publishing
        for cap in caps.values():
            cap.release()
        deadline = time.monotonic() + 5
        while streams.clients('cam_a') and time.monotonic() < deadline:
            time.sleep(0.05)   # the handler notices on its next write
        st = streams.stats()
        assert st['cam_a'].clients == 0 and st['cam_a'].connections == 1
        assert st['cam_a'].sent >= 20 and st['cam_a'].published >= st['cam_a'].sent
    finally:
        feeder.stop()
        streams.close()


def test_a_slow_client_skips_to_the_newest_frame_instead_of_a_backlog() -> None:
    streams = MjpegStreams(['cam'])
    feeder = Feeder(streams, ['cam'], fps=50.0, big=True)   # ~0.7 MB per frame
    try:
        cap = cv2.VideoCapture(streams.url('cam'), cv2.CAP_FFMPEG)
        assert cap.isOpened()
        ok, _ = cap.read()
        assert ok
        time.sleep(1.2)          # a reader that stalls for 60 frames
        stalled = feeder.count
        caught_up = None
        for n in range(1, 60):   # what the sockets buffered, then live frames again
            ok, img = cap.read()
            assert ok
            if (feeder.count - 1 - frame_index(img)) % 100 <= 3:
                caught_up = n
                break
        assert caught_up is not None and caught_up < 40, caught_up
        assert streams.stats()['cam'].skipped > 0
        assert feeder.count - stalled < 60      # it caught up in well under the stall
        cap.release()
    finally:
        feeder.stop()
        streams.close()


def test_unknown_camera_is_a_404_naming_the_streams() -> None:
    streams = MjpegStreams(['cam_fl', 'cam_fr'])
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f'http://127.0.0.1:{streams.port}/cam_x', timeout=5)
        assert err.value.code == 404
        assert 'cam_fl' in err.value.read().decode() or 'cam_fl' in str(err.value.reason)
        with pytest.raises(KeyError):
            streams.url('cam_x')
    finally:
        streams.close()


def test_closing_ends_the_stream_and_the_driver_source_reconnects_later() -> None:
    streams = MjpegStreams(['cam'])
    feeder = Feeder(streams, ['cam'])
    source = ReconnectingSource(parse_source(streams.url('cam')), backoff_min=0.1,
                                backoff_max=0.2)
    try:
        img = None
        deadline = time.monotonic() + 10
        while img is None and time.monotonic() < deadline:
            img = source.read(time.monotonic())
        assert img is not None and source.is_open
        feeder.stop()
        streams.close()
        deadline = time.monotonic() + 40
        while source.is_open and time.monotonic() < deadline:
            source.read(time.monotonic())   # the stream ended: the source closes, no raise
        assert not source.is_open
    finally:
        feeder.stop()
        streams.close()
        source.release()


def test_a_taken_port_is_one_clear_error() -> None:
    first = MjpegStreams(['cam'])
    try:
        with pytest.raises(StreamError, match=f'cannot serve on 127.0.0.1:{first.port}'):
            MjpegStreams(['cam'], port=first.port)
    finally:
        first.close()
    with pytest.raises(ValueError, match='no cameras'):
        MjpegStreams([])
    with pytest.raises(ValueError, match='quality'):
        encode_jpeg(pattern(0), 0)

"""The twin's cameras as network cameras: one MJPEG-over-HTTP stream per camera.

A live twin (``up --twin``) stands in for the store's hardware. For the shelf hubs that means
pseudo-terminals the real serial drivers read; for the cameras it means what an IP camera
offers: ``http://<host>:<port>/<camera_id>`` serving ``multipart/x-mixed-replace`` JPEG frames,
which the real ``camera_driver`` opens through OpenCV (FFmpeg's ``mpjpeg`` demuxer) like any
other stream source, decodes, stamps at capture time and publishes with its CameraInfo.

No ROS here. ``MjpegStreams.publish(camera_id, jpeg)`` hands one encoded frame to every client
connected to that camera at the moment it is called (the twin calls it at the frame's time);
like a real camera, a client that connects later gets the frames from then on, and a client
that reads too slowly skips to the newest frame instead of queueing old ones. ``encode_jpeg``
turns a rendered BGR image into the bytes to publish.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

__all__ = ['BOUNDARY', 'MjpegStreams', 'StreamError', 'StreamStats', 'encode_jpeg']

#: The multipart boundary between frames.
BOUNDARY = 'smartstoreframe'


class StreamError(OSError):
    """The streams cannot be served (the address is taken, or not this machine's)."""


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """A BGR (or mono) uint8 image as JPEG bytes."""
    if not 1 <= quality <= 100:
        raise ValueError(f'JPEG quality must be 1..100, got {quality}')
    ok, buf = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f'cannot encode a {image.shape} {image.dtype} image as JPEG')
    return buf.tobytes()


@dataclass
class StreamStats:
    """What one camera's stream did."""

    published: int = 0          # frames handed to the stream
    sent: int = 0               # frames written to clients (all clients together)
    skipped: int = 0            # frames a slow client never got (it was sent a newer one)
    clients: int = 0            # clients connected now
    connections: int = 0        # clients ever connected


@dataclass
class _Channel:
    seq: int = 0
    frame: bytes = b''
    stamp_ns: int = 0
    stats: StreamStats = field(default_factory=StreamStats)


class MjpegStreams:
    """An HTTP server with one MJPEG stream per camera id (module docstring).

    ``port=0`` picks a free port (see ``port``). The server runs in daemon threads from
    construction until ``close()``.
    """

    def __init__(self, camera_ids: Iterable[str], host: str = '127.0.0.1', port: int = 0
                 ) -> None:
        self._channels = {cam: _Channel() for cam in camera_ids}
        if not self._channels:
            raise ValueError('no cameras to stream')
        self._cond = threading.Condition()
        self._closed = False
        streams = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # HTTP/1.0: the stream ends when the connection does
            protocol_version = 'HTTP/1.0'

            def do_GET(self) -> None:
                streams._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                del format, args  # no access log on the console of ``up``

        try:
            self._server = http.server.ThreadingHTTPServer((host, port), Handler)
        except OSError as err:
            raise StreamError(f'camera streams: cannot serve on {host}:{port} '
                              f'({err.strerror or err})') from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={'poll_interval': 0.1},
                                        name='twin-mjpeg', daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------------ addresses
    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, camera_id: str) -> str:
        if camera_id not in self._channels:
            raise KeyError(camera_id)
        return f'http://{self.host}:{self.port}/{camera_id}'

    def urls(self) -> dict[str, str]:
        return {cam: self.url(cam) for cam in self._channels}

    # ------------------------------------------------------------------------ frames
    def publish(self, camera_id: str, jpeg: bytes, stamp_ns: int = 0) -> None:
        """Hand one JPEG frame to every client of ``camera_id`` now."""
        with self._cond:
            ch = self._channels[camera_id]
            ch.seq += 1
            ch.frame, ch.stamp_ns = jpeg, stamp_ns
            ch.stats.published += 1
            self._cond.notify_all()

    def clients(self, camera_id: str) -> int:
        with self._cond:
            return self._channels[camera_id].stats.clients

    def stats(self) -> dict[str, StreamStats]:
        with self._cond:
            return {cam: StreamStats(**vars(ch.stats)) for cam, ch in self._channels.items()}

    def close(self) -> None:
        """Stop serving: clients see their stream end."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(2.0)

    # ------------------------------------------------------------------------ serving
    def _serve(self, request: http.server.BaseHTTPRequestHandler) -> None:
        camera_id = request.path.split('?', 1)[0].strip('/')
        camera_id = camera_id.removesuffix('.mjpg')
        ch = self._channels.get(camera_id)
        if ch is None:
            request.send_error(404, f'no camera {camera_id!r}; streams: '
                               f'{", ".join(sorted(self._channels))}')
            return
        request.send_response(200)
        request.send_header('Content-Type', f'multipart/x-mixed-replace;boundary={BOUNDARY}')
        request.send_header('Cache-Control', 'no-cache')
        request.send_header('Connection', 'close')
        request.end_headers()
        with self._cond:
            ch.stats.clients += 1
            ch.stats.connections += 1
            seen = ch.seq          # from now on: no frame from before the client came
        try:
            while True:
                with self._cond:
                    while not self._closed and ch.seq == seen:
                        self._cond.wait()
                    if self._closed:
                        return
                    ch.stats.skipped += ch.seq - seen - 1
                    seen, frame, stamp_ns = ch.seq, ch.frame, ch.stamp_ns
                head = (f'--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n'
                        f'Content-Length: {len(frame)}\r\nX-Timestamp-Ns: {stamp_ns}\r\n\r\n')
                request.wfile.write(head.encode('ascii') + frame + b'\r\n')
                request.wfile.flush()
                with self._cond:
                    ch.stats.sent += 1
        except OSError:
            return                 # the client went away (BrokenPipe, ConnectionReset)
        finally:
            with self._cond:
                ch.stats.clients -= 1

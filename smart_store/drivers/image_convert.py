"""sensor_msgs/Image <-> numpy, with cv_bridge's call shape.

On a full ROS 2 install ``get_bridge()`` returns cv_bridge's ``CvBridge``. The PyPI ``cv-bridge``
is an old ROS 1 copy that fails with current NumPy, so pip installs get ``ImageConverter``: the
same two methods for the encodings this project uses (bgr8, rgb8, mono8, 16UC1), written for
zero-copy views where possible.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

import cv2
import numpy as np

# encoding -> (channels, numpy dtype)
ENCODINGS: dict[str, tuple[int, np.dtype[Any]]] = {
    'bgr8': (3, np.dtype(np.uint8)),
    'rgb8': (3, np.dtype(np.uint8)),
    'mono8': (1, np.dtype(np.uint8)),
    '16UC1': (1, np.dtype(np.uint16)),
}


class ConversionError(ValueError):
    """An image that cannot be converted (unknown encoding, inconsistent size)."""


class Bridge(Protocol):
    def cv2_to_imgmsg(self, cvim: np.ndarray, encoding: str = 'passthrough',
                      header: Any = None) -> Any: ...

    def imgmsg_to_cv2(self, img_msg: Any, desired_encoding: str = 'passthrough') -> np.ndarray: ...


def _color_convert(image: np.ndarray, src: str, dst: str) -> np.ndarray:
    if dst in (src, 'passthrough'):
        return image
    table = {
        ('bgr8', 'rgb8'): cv2.COLOR_BGR2RGB, ('rgb8', 'bgr8'): cv2.COLOR_RGB2BGR,
        ('bgr8', 'mono8'): cv2.COLOR_BGR2GRAY, ('rgb8', 'mono8'): cv2.COLOR_RGB2GRAY,
        ('mono8', 'bgr8'): cv2.COLOR_GRAY2BGR, ('mono8', 'rgb8'): cv2.COLOR_GRAY2RGB,
    }
    code = table.get((src, dst))
    if code is None:
        raise ConversionError(f'cannot convert {src} to {dst}')
    return cv2.cvtColor(image, code)


class ImageConverter:
    """The subset of ``cv_bridge.CvBridge`` the project needs, without cv_bridge."""

    def __init__(self, image_class: type | None = None) -> None:
        self._image_class = image_class

    def _new_image(self) -> Any:
        if self._image_class is None:
            from sensor_msgs.msg import Image  # noqa: PLC0415 - only when a message is built

            self._image_class = Image
        return self._image_class()

    def cv2_to_imgmsg(self, cvim: np.ndarray, encoding: str = 'passthrough',
                      header: Any = None) -> Any:
        """numpy image -> sensor_msgs/Image. ``passthrough`` picks the encoding from the shape."""
        if not isinstance(cvim, np.ndarray):
            raise ConversionError('image must be a numpy array')
        if encoding == 'passthrough':
            if cvim.dtype == np.uint16 and cvim.ndim == 2:
                encoding = '16UC1'
            elif cvim.dtype == np.uint8:
                encoding = 'mono8' if cvim.ndim == 2 else 'bgr8'
            else:
                raise ConversionError(f'no passthrough encoding for {cvim.dtype} {cvim.shape}')
        if encoding not in ENCODINGS:
            raise ConversionError(f'unsupported encoding {encoding!r}')
        channels, dtype = ENCODINGS[encoding]
        shape_ok = (cvim.ndim == 2 and channels == 1) or (
            cvim.ndim == 3 and cvim.shape[2] == channels)
        if not shape_ok or cvim.dtype != dtype:
            raise ConversionError(f'{encoding} needs {channels} channel(s) of {dtype}, got '
                                  f'{cvim.dtype} {cvim.shape}')
        image = np.ascontiguousarray(cvim)
        msg = self._new_image()
        if header is not None:
            msg.header = header
        msg.height, msg.width = int(image.shape[0]), int(image.shape[1])
        msg.encoding = encoding
        msg.is_bigendian = int(sys.byteorder == 'big' and dtype.itemsize > 1)
        msg.step = int(image.strides[0])
        msg.data = image.tobytes()
        return msg

    def imgmsg_to_cv2(self, img_msg: Any, desired_encoding: str = 'passthrough') -> np.ndarray:
        """sensor_msgs/Image -> numpy image (a view of the message data where possible)."""
        encoding = img_msg.encoding
        if encoding not in ENCODINGS:
            raise ConversionError(f'unsupported encoding {encoding!r}')
        channels, dtype = ENCODINGS[encoding]
        height, width, step = int(img_msg.height), int(img_msg.width), int(img_msg.step)
        row = width * channels * dtype.itemsize
        data = img_msg.data  # bytes, array.array (rclpy) or numpy (rosbags): all buffers
        buf = np.frombuffer(data if not isinstance(data, list) else bytes(data), dtype=np.uint8)
        if step < row or buf.size < step * height:
            raise ConversionError(f'image data too short: {buf.size} bytes for {height} rows '
                                  f'of step {step} ({width}x{channels} {dtype})')
        rows = buf[:step * height].reshape(height, step)[:, :row]
        image = rows.view(dtype).reshape(height, width, channels) if channels > 1 else \
            rows.view(dtype).reshape(height, width)
        if dtype.itemsize > 1 and bool(img_msg.is_bigendian) != (sys.byteorder == 'big'):
            image = image.byteswap()
        return _color_convert(image, encoding, desired_encoding)


def get_bridge() -> Bridge:
    """cv_bridge's CvBridge on a full ROS install, the built-in converter otherwise."""
    try:
        from cv_bridge import CvBridge  # noqa: PLC0415 - optional, full ROS installs only

        bridge = CvBridge()
        # The PyPI cv-bridge (ROS 1) imports but fails on use with current NumPy: probe it.
        bridge.cv2_to_imgmsg(np.zeros((2, 2, 3), np.uint8), 'bgr8')
        return bridge
    except Exception:  # noqa: BLE001 - any failure means "not a working cv_bridge"
        return ImageConverter()

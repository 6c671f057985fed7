"""The built-in Image converter: both directions, every encoding the project uses."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import Image

from smart_store.drivers.image_convert import ConversionError, ImageConverter, get_bridge

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(('encoding', 'image'), [
    ('bgr8', RNG.integers(0, 255, (7, 5, 3), dtype=np.uint8)),
    ('rgb8', RNG.integers(0, 255, (4, 9, 3), dtype=np.uint8)),
    ('mono8', RNG.integers(0, 255, (6, 3), dtype=np.uint8)),
    ('16UC1', RNG.integers(0, 65535, (5, 4), dtype=np.uint16)),
])
def test_round_trip_through_a_real_image_message(encoding: str, image: np.ndarray) -> None:
    conv = ImageConverter()
    msg = conv.cv2_to_imgmsg(image, encoding)
    assert isinstance(msg, Image)
    assert (msg.height, msg.width, msg.encoding) == (image.shape[0], image.shape[1], encoding)
    assert msg.step == image.shape[1] * image.itemsize * (image.shape[2] if image.ndim == 3 else 1)
    back = conv.imgmsg_to_cv2(msg)
    np.testing.assert_array_equal(back, image)


def test_padded_rows_and_colour_conversion() -> None:
    conv = ImageConverter()
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[..., 0] = 255  # blue
    msg = conv.cv2_to_imgmsg(bgr, 'bgr8')
    # A camera driver with 4 bytes of row padding.
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(2, 9)
    msg.data = np.hstack([rows, np.zeros((2, 4), np.uint8)]).tobytes()
    msg.step = 13
    rgb = conv.imgmsg_to_cv2(msg, 'rgb8')
    assert rgb.shape == (2, 3, 3) and np.all(rgb[..., 2] == 255) and np.all(rgb[..., 0] == 0)
    assert conv.imgmsg_to_cv2(msg, 'mono8').shape == (2, 3)


def test_passthrough_and_errors() -> None:
    conv = ImageConverter()
    assert conv.cv2_to_imgmsg(np.zeros((2, 2), np.uint16)).encoding == '16UC1'
    assert conv.cv2_to_imgmsg(np.zeros((2, 2, 3), np.uint8)).encoding == 'bgr8'
    with pytest.raises(ConversionError):
        conv.cv2_to_imgmsg(np.zeros((2, 2), np.float32))
    with pytest.raises(ConversionError):
        conv.cv2_to_imgmsg(np.zeros((2, 2), np.uint8), 'bgr8')
    msg = conv.cv2_to_imgmsg(np.zeros((4, 4, 3), np.uint8), 'bgr8')
    msg.data = bytes(10)
    with pytest.raises(ConversionError, match='too short'):
        conv.imgmsg_to_cv2(msg)
    msg.encoding = 'yuv422'
    with pytest.raises(ConversionError, match='unsupported'):
        conv.imgmsg_to_cv2(msg)


def test_get_bridge_gives_a_working_converter() -> None:
    bridge = get_bridge()  # cv_bridge on full installs, the built-in one here
    img = RNG.integers(0, 255, (3, 4, 3), dtype=np.uint8)
    np.testing.assert_array_equal(bridge.imgmsg_to_cv2(bridge.cv2_to_imgmsg(img, 'bgr8')), img)

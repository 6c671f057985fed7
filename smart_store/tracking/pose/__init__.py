"""2D multi-person pose estimation for the ceiling cameras (bottom-up, CenterNet-style).

Pure torch / numpy / OpenCV (no rclpy). The tracker uses a ``PoseBackend``:

    from smart_store.tracking.pose import TorchPoseBackend
    backend = TorchPoseBackend('pose.pt', device='auto')      # CUDA fp16 if present, else CPU
    people = backend.infer([img_cam1, img_cam2, ...])          # per image: [Detection, ...]
    box, score, keypoints = people[0][0]                       # (4,), float, (17, 3) u, v, conf

Coordinates are the image's pixels with pixel centres at integers (``CameraModel`` / twin /
``tracking.model.Detection2D`` convention). Training and evaluation: ``pose.train.train`` and
``pose.evaluate.evaluate`` (pycocotools); synthetic data for tests: ``pose.synthetic``.
"""

from smart_store.tracking.pose.backend import (
    OnnxPoseBackend,
    PoseBackend,
    TorchPoseBackend,
    YoloPoseBackend,
    select_device,
)
from smart_store.tracking.pose.decode import DecodeParams, Detection
from smart_store.tracking.pose.network import PoseNet, PoseNetConfig, load_weights, save_weights

__all__ = [
    'DecodeParams',
    'Detection',
    'OnnxPoseBackend',
    'PoseBackend',
    'PoseNet',
    'PoseNetConfig',
    'TorchPoseBackend',
    'YoloPoseBackend',
    'load_weights',
    'save_weights',
    'select_device',
]

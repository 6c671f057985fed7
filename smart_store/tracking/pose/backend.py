"""Pose back-ends: one batch of camera images in, per-image people out.

``PoseBackend`` is what the tracker talks to: ``infer(images) -> list[list[Detection]]`` with one
call per frame set (all cameras batched together). Images are BGR ``uint8`` ``(H, W, 3)`` of any
size; results are in each image's own pixels (pixel centres at integer coordinates, the OpenCV /
twin convention; ``Keypoint2D`` in msg/ counts from the pixel's left edge, so add 0.5 there).

* ``TorchPoseBackend``: the package's ``PoseNet`` from a weights file; CUDA with fp16 autocast
  when ``device`` is 'auto' (or 'cuda') and a GPU is present, else CPU fp32; BN folded.
* ``OnnxPoseBackend``: the same network exported to ONNX and run with onnxruntime (needs the
  ``onnx`` and ``onnxruntime`` packages; CUDA provider used when available).
* ``YoloPoseBackend``: adapter for a site's own model, any callable producing YOLO-pose-like
  results (boxes, scores, 17x3 keypoints per image), e.g. an ultralytics ``YOLO`` model.

CPU threads: both PoseNet back-ends decode with torch, so in a process that shares a small CPU
with other nodes call ``torch.set_num_threads(1)`` (``TorchPoseBackend(num_threads=1)``): with
2 threads on 2 busy cores every OpenMP barrier waits for a descheduled thread and a 10 ms call
can take a second (benchmarks/pose_speed.py shows it). One thread runs a 4-camera frame set at
320x240 in ~25 ms (ONNX) / ~60 ms (torch).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch

from smart_store.tracking.pose.decode import DEFAULT_DECODE, DecodeParams, Detection, decode
from smart_store.tracking.pose.network import NUM_KEYPOINTS, PoseNet, load_weights
from smart_store.tracking.pose.transforms import letterbox_matrix, warp_image

DeviceName = Literal['auto', 'cpu', 'cuda'] | str


@runtime_checkable
class PoseBackend(Protocol):
    """A 2D multi-person pose model."""

    def infer(self, images: list[np.ndarray]) -> list[list[Detection]]:
        """People in each image (same order), coordinates in that image's pixels."""
        ...


def select_device(device: DeviceName = 'auto') -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is an error."""
    name = str(device)
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if name.startswith('cuda') and not torch.cuda.is_available():
        raise RuntimeError(f'device {name!r} asked for but CUDA is not available')
    if name != 'cpu' and not name.startswith('cuda'):
        raise ValueError(f"device {name!r}: expected 'auto', 'cpu' or 'cuda[:N]'")
    return torch.device(name)


def preprocess(images: Sequence[np.ndarray], input_size: tuple[int, int]
               ) -> tuple[np.ndarray, list[np.ndarray], list[tuple[int, int]]]:
    """Letterbox every image to ``input_size``: uint8 batch (N, H, W, 3), affines, sizes."""
    w, h = input_size
    batch = np.empty((len(images), h, w, 3), dtype=np.uint8)
    matrices, sizes = [], []
    for i, image in enumerate(images):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f'image {i}: expected BGR uint8 (H, W, 3), got {image.dtype} '
                             f'{image.shape}')
        ih, iw = image.shape[:2]
        M = letterbox_matrix(iw, ih, w, h)
        batch[i] = warp_image(image, M, (w, h))
        matrices.append(M)
        sizes.append((iw, ih))
    return batch, matrices, sizes


def _check_size(input_size: tuple[int, int]) -> tuple[int, int]:
    w, h = int(input_size[0]), int(input_size[1])
    if w % 16 or h % 16 or w <= 0 or h <= 0:
        raise ValueError(f'input size {w}x{h}: width and height must be multiples of 16')
    return w, h


class TorchPoseBackend:
    """``PoseNet`` weights run with PyTorch (CUDA fp16 autocast, or CPU fp32)."""

    def __init__(self, weights: str | Path | PoseNet | None, device: DeviceName = 'auto',
                 input_size: tuple[int, int] | None = None, *,
                 params: DecodeParams = DEFAULT_DECODE, fp16: bool | None = None,
                 num_threads: int | None = None) -> None:
        """``weights``: a weights file, a ``PoseNet`` (used as is), or None (random, benchmarks).

        ``input_size``: (width, height), default the size the weights were trained at.
        ``fp16``: autocast to float16; default True on CUDA (never on CPU).
        ``num_threads``: ``torch.set_num_threads`` for CPU inference (process-wide; on a busy
        shared CPU 1 thread is far more robust than 2: OpenMP barriers stall when a core is
        taken by another process).
        """
        self.device = select_device(device)
        if num_threads is not None:
            torch.set_num_threads(int(num_threads))
        trained_size: tuple[int, int] = (320, 240)
        if isinstance(weights, PoseNet):
            model = weights
        elif weights is None:
            model = PoseNet()
        else:
            model, meta = load_weights(weights)
            trained_size = meta.input_size
        if not isinstance(weights, PoseNet):
            model.fuse()
        self.model = model.eval().to(self.device, memory_format=torch.channels_last)
        self.input_size = _check_size(input_size or trained_size)
        self.params = params
        self.fp16 = (self.device.type == 'cuda') if fp16 is None else bool(fp16)
        if self.fp16 and self.device.type != 'cuda':
            raise ValueError('fp16 inference needs a CUDA device')

    def forward(self, batch: np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W, 3) input-size batch -> raw output (N, 54, H/4, W/4) float32."""
        x = torch.from_numpy(batch)
        if self.device.type == 'cuda':
            x = x.pin_memory().to(self.device, non_blocking=True)
        with torch.inference_mode(), torch.autocast(
                device_type=self.device.type, dtype=torch.float16, enabled=self.fp16):
            return self.model(x).float()

    def infer(self, images: list[np.ndarray]) -> list[list[Detection]]:
        if not images:
            return []
        batch, matrices, sizes = preprocess(images, self.input_size)
        with torch.inference_mode():
            return decode(self.forward(batch), matrices, sizes, self.params)


# ----------------------------------------------------------------------------------- ONNX
def export_onnx(model: PoseNet | str | Path, path: str | Path,
                input_size: tuple[int, int] = (320, 240), opset: int = 17) -> Path:
    """Export ``PoseNet`` (BN folded, fp32) to ONNX with a dynamic batch axis; input uint8 NHWC.

    Uses the TorchScript-based exporter (``dynamo=False``): no extra dependencies and a plain
    graph of Conv / Relu / Add / Resize / Concat.
    """
    if not isinstance(model, PoseNet):
        model, _ = load_weights(model)
    net = PoseNet(model.config)
    net.load_state_dict(model.state_dict())
    net.eval().fuse()
    w, h = _check_size(input_size)
    dummy = torch.zeros((1, h, w, 3), dtype=torch.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f'.{path.name}.{os.getpid()}.partial')
    with warnings.catch_warnings():  # "legacy exporter": it is the dependency-free one
        warnings.simplefilter('ignore', DeprecationWarning)
        torch.onnx.export(net, (dummy,), str(partial), input_names=['images'],
                          output_names=['output'],
                          dynamic_axes={'images': {0: 'batch'}, 'output': {0: 'batch'}},
                          opset_version=opset, dynamo=False)
    os.replace(partial, path)  # atomic: concurrent readers never see half a file
    return path


def _onnx_cache_path(weights: Path, size: tuple[int, int]) -> Path:
    """``$XDG_CACHE_HOME/smart_store/pose/<stem>.<sha256[:10]>.<W>x<H>.onnx`` (``~/.cache``
    when unset; the temp folder when neither is writable): never beside the weights, which live
    in a source checkout or an install tree."""
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:10]
    name = f'{weights.stem}.{digest}.{size[0]}x{size[1]}.onnx'
    base = Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache')
    for root in (base, Path(tempfile.gettempdir())):
        folder = root / 'smart_store' / 'pose'
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder / name
    return Path(tempfile.gettempdir()) / name


class OnnxPoseBackend:
    """``PoseNet`` exported to ONNX, run with onnxruntime; same decoding as the Torch backend."""

    def __init__(self, weights: str | Path, device: DeviceName = 'auto',
                 input_size: tuple[int, int] | None = None, *,
                 params: DecodeParams = DEFAULT_DECODE, num_threads: int | None = 1,
                 onnx_path: str | Path | None = None) -> None:
        """``weights``: a ``.onnx`` file from ``export_onnx`` or a PoseNet weights file, which
        is exported (once per weights content and input size) to ``onnx_path``, default
        ``<stem>.<sha256[:10]>.<W>x<H>.onnx`` in the user cache (``_onnx_cache_path``).
        ``device``: 'auto' takes onnxruntime's CUDA provider when it has one (fp32), 'cuda'
        requires it. ``num_threads``: intra-op threads (default 1: one core runs 4 cameras at
        5 fps with room to spare; None = onnxruntime's choice)."""
        import onnxruntime as ort  # noqa: PLC0415 - optional dependency

        path = Path(weights)
        if path.suffix != '.onnx':
            _, meta = load_weights(path)
            size = _check_size(input_size or meta.input_size)
            target = Path(onnx_path) if onnx_path else _onnx_cache_path(path, size)
            if onnx_path is not None or not target.exists():  # the default name is a cache
                export_onnx(path, target, size)
            path = target
        self.params = params
        name = str(device)
        if name not in ('auto', 'cpu') and not name.startswith('cuda'):
            raise ValueError(f"device {name!r}: expected 'auto', 'cpu' or 'cuda[:N]'")
        providers: list[Any] = ['CPUExecutionProvider']
        if name != 'cpu':
            if 'CUDAExecutionProvider' in ort.get_available_providers():
                index = int(name.split(':')[1]) if ':' in name else 0
                providers.insert(0, ('CUDAExecutionProvider', {'device_id': index}))
            elif name != 'auto':
                raise RuntimeError('onnxruntime has no CUDAExecutionProvider here')
        opts = ort.SessionOptions()
        # No busy-waiting worker threads between runs: the node shares a few cores with others
        # (and with the torch-side decoding right after each run).
        opts.add_session_config_entry('session.intra_op.allow_spinning', '0')
        opts.add_session_config_entry('session.inter_op.allow_spinning', '0')
        if num_threads is not None:
            opts.intra_op_num_threads = int(num_threads)
            opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        self.providers = self.session.get_providers()
        shape = self.session.get_inputs()[0].shape  # ['batch', H, W, 3]
        self.input_size = (int(shape[2]), int(shape[1]))
        if input_size is not None and tuple(input_size) != self.input_size:
            raise ValueError(f'{path}: exported for {self.input_size}, not {input_size}')
        self.device = torch.device('cuda' if self.providers[0] == 'CUDAExecutionProvider'
                                   else 'cpu')

    def forward(self, batch: np.ndarray) -> torch.Tensor:
        out = self.session.run(['output'], {'images': batch})[0]
        return torch.from_numpy(out)

    def infer(self, images: list[np.ndarray]) -> list[list[Detection]]:
        if not images:
            return []
        batch, matrices, sizes = preprocess(images, self.input_size)
        return decode(self.forward(batch), matrices, sizes, self.params)


# ------------------------------------------------------------------------------ YOLO adapter
def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    if hasattr(x, 'cpu') and hasattr(x, 'numpy'):  # other tensor types
        return np.asarray(x.cpu().numpy())
    return np.asarray(x, dtype=np.float64)


def _boxes_xyxy(boxes: np.ndarray, fmt: str) -> np.ndarray:
    b = boxes.astype(np.float64).reshape(-1, 4)
    if fmt == 'xyxy':
        return b
    if fmt == 'xywh':
        return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)
    if fmt == 'cxcywh':
        return np.concatenate([b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2], axis=1)
    raise ValueError(f'box_format {fmt!r}: expected xyxy, xywh or cxcywh')


class YoloPoseBackend:
    """Adapter for an external pose model (bring your own, e.g. YOLO-pose).

    ``model`` is called with the list of BGR images (``batched=True``) or once per image and
    must return, per image, one of:

    * an array ``(N, 5 + 17*3)`` (or ``(N, 5 + 17*2)``): box (``box_format``), score, keypoints;
    * a tuple / list ``(boxes (N, 4), scores (N,), keypoints (N, 17, 3 or 2))``;
    * a dict with ``boxes``, ``scores``, ``keypoints``;
    * an ultralytics-like result with ``.boxes.xyxy``, ``.boxes.conf`` and ``.keypoints.data``.

    Coordinates must be in the image's pixels; ``pixel_offset`` is added to convert from the
    model's convention (e.g. -0.5 if it counts from pixel edges). Keypoints without a confidence
    get 1 inside the image and 0 outside; people below ``score_threshold`` are dropped.
    """

    def __init__(self, model: Callable[..., Any], *, batched: bool = True,
                 box_format: Literal['xyxy', 'xywh', 'cxcywh'] = 'xyxy',
                 score_threshold: float = 0.25, pixel_offset: float = 0.0) -> None:
        self.model = model
        self.batched = batched
        self.box_format = box_format
        self.score_threshold = score_threshold
        self.pixel_offset = pixel_offset

    def infer(self, images: list[np.ndarray]) -> list[list[Detection]]:
        if not images:
            return []
        raw = list(self.model(images)) if self.batched else [self.model(im) for im in images]
        if len(raw) != len(images):
            raise ValueError(f'external pose model returned {len(raw)} results for '
                             f'{len(images)} images')
        return [self._convert(r, im.shape[1], im.shape[0]) for r, im in zip(raw, images,
                                                                            strict=True)]

    def _split(self, result: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if hasattr(result, 'boxes') and hasattr(result, 'keypoints'):
            boxes = _numpy(result.boxes.xyxy)
            scores = _numpy(result.boxes.conf)
            kps = result.keypoints
            kps = _numpy(kps.data if hasattr(kps, 'data') else kps)
            return boxes.reshape(-1, 4), scores.reshape(-1), kps
        if isinstance(result, dict):
            return (_boxes_xyxy(_numpy(result['boxes']), self.box_format),
                    _numpy(result['scores']).reshape(-1), _numpy(result['keypoints']))
        if isinstance(result, (tuple, list)) and len(result) == 3:
            boxes, scores, kps = result
            return (_boxes_xyxy(_numpy(boxes), self.box_format), _numpy(scores).reshape(-1),
                    _numpy(kps))
        arr = _numpy(result)
        if arr.size == 0:
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, NUM_KEYPOINTS, 3))
        arr = arr.reshape(arr.shape[0], -1)
        return (_boxes_xyxy(arr[:, :4], self.box_format), arr[:, 4],
                arr[:, 5:].reshape(arr.shape[0], NUM_KEYPOINTS, -1))

    def _convert(self, result: Any, w: int, h: int) -> list[Detection]:
        boxes, scores, kps = self._split(result)
        n = len(scores)
        if n == 0:
            return []
        kps = kps.reshape(n, NUM_KEYPOINTS, -1).astype(np.float64)
        if len(boxes) != n or kps.shape[2] not in (2, 3):
            raise ValueError(f'external pose model: inconsistent result shapes boxes '
                             f'{boxes.shape}, scores {scores.shape}, keypoints {kps.shape}')
        uv = kps[..., :2] + self.pixel_offset
        inside = ((uv[..., 0] >= -0.5) & (uv[..., 0] < w - 0.5)
                  & (uv[..., 1] >= -0.5) & (uv[..., 1] < h - 0.5))
        conf = np.clip(kps[..., 2], 0.0, 1.0) if kps.shape[2] == 3 else np.ones(uv.shape[:2])
        conf = np.where(inside, conf, 0.0)
        out = []
        for i in np.argsort(-scores, kind='stable'):
            if scores[i] < self.score_threshold:
                continue
            box = (boxes[i] + self.pixel_offset).astype(np.float32)
            kp = np.concatenate([uv[i], conf[i][:, None]], axis=1).astype(np.float32)
            out.append(Detection(box=box, score=float(scores[i]), keypoints=kp))
        return out


# ------------------------------------------------------------------------------ factory
BackendName = Literal['auto', 'torch', 'onnx']
BACKENDS: tuple[str, ...] = ('auto', 'torch', 'onnx')


def onnx_available() -> bool:
    """True when both ``onnx`` (export) and ``onnxruntime`` (inference) can be imported."""
    import importlib.util  # noqa: PLC0415

    return all(importlib.util.find_spec(m) is not None for m in ('onnx', 'onnxruntime'))


def make_backend(kind: str, weights: str | Path, device: DeviceName = 'auto',
                 input_size: tuple[int, int] | None = None, *,
                 num_threads: int | None = 1) -> TorchPoseBackend | OnnxPoseBackend:
    """The PoseNet backend the tracker runs. ``kind`` 'auto': torch (fp16) on a GPU; on a CPU
    ONNX Runtime when it is installed (1.4-1.7x the images/s of torch here,
    benchmarks/pose_speed.py), else torch. Same weights, same decoding, same results."""
    if kind not in BACKENDS:
        raise ValueError(f'backend {kind!r}: expected one of {", ".join(BACKENDS)}')
    if kind == 'auto':
        on_gpu = select_device(device).type == 'cuda'
        kind = 'onnx' if not on_gpu and onnx_available() else 'torch'
    if kind == 'onnx':
        if num_threads is not None:
            torch.set_num_threads(num_threads)   # decoding runs in torch
        return OnnxPoseBackend(weights, device, input_size, num_threads=num_threads)
    return TorchPoseBackend(weights, device, input_size, num_threads=num_threads)


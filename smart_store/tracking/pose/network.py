"""PoseNet: a small single-stage bottom-up multi-person pose network (CenterNet-style).

Architecture (default ``PoseNetConfig``: 0.28 M parameters, a 0.6 MB fp16 weights file):

* input: a batch of BGR ``uint8`` images ``(N, H, W, 3)`` at the network input size (``H`` and
  ``W`` multiples of 16); the conversion to float and the per-channel normalisation happen inside
  the model, so callers (Torch, ONNX) only resize;
* backbone: a 3x3 stem (stride 2) and four stages of depthwise-separable blocks (stride 4, 8, 16,
  32; 5x5 depthwise kernels in the two deepest stages for a receptive field that spans a person);
* neck: an FPN-style top-down path (nearest upsampling + lateral 1x1 + depthwise-separable
  refinement) back to stride 4;
* heads at stride 4, concatenated into one tensor ``(N, 54, H/4, W/4)`` (see ``Channels``):
  person-centre heatmap logit (1), keypoint heatmap logits (17), centre-to-keypoint offsets
  (2x17, in heatmap cells, x then y per keypoint) and the sub-pixel offset of a keypoint peak
  (2, in cells, shared by all keypoint types).

Heatmap cell ``(i, j)`` (row, column) is centred on input pixel ``(STRIDE*i + 1.5, STRIDE*j +
1.5)`` (pixel centres at integer coordinates): ``x_input = STRIDE * x_cell + (STRIDE - 1) / 2``.

Weights files (``save_weights`` / ``load_weights``) hold an fp16 ``state_dict`` plus metadata
(format version, architecture, input size, training summary); see ``WEIGHTS_FORMAT``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as nnf

NUM_KEYPOINTS = 17
STRIDE = 4
WEIGHTS_FORMAT = 'smart_store.pose/1'
# BGR means / stds of 0..255 images (ImageNet statistics, channel order reversed).
_MEAN_BGR = (103.53, 116.28, 123.675)
_STD_BGR = (57.375, 57.12, 58.395)
_HEATMAP_PRIOR = 0.05  # initial sigmoid output of the heatmap heads (focal-loss practice)


class CHANNELS:
    """Channel layout of the network output ``(N, OUT_CHANNELS, H/4, W/4)``."""

    centre = slice(0, 1)
    heatmaps = slice(1, 1 + NUM_KEYPOINTS)
    offsets = slice(1 + NUM_KEYPOINTS, 1 + 3 * NUM_KEYPOINTS)  # dx0, dy0, dx1, dy1, ...
    subpixel = slice(1 + 3 * NUM_KEYPOINTS, 3 + 3 * NUM_KEYPOINTS)  # dx, dy

OUT_CHANNELS = 3 + 3 * NUM_KEYPOINTS  # 54


@dataclass(frozen=True)
class PoseNetConfig:
    """Architecture hyper-parameters (stored in the weights file)."""

    stages: tuple[int, ...] = (32, 64, 128, 192)  # channels at stride 4, 8, 16, 32
    depths: tuple[int, ...] = (1, 2, 4, 3)        # blocks per stage (the first one strides)
    kernels: tuple[int, ...] = (3, 3, 5, 5)       # depthwise kernel per stage
    stem: int = 16
    neck: int = 96                                # FPN channels at strides 8..32
    head: int = 64                                # channels at stride 4 (neck output and heads)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PoseNetConfig:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


# ------------------------------------------------------------------------------------ layers
class ConvBNAct(nn.Module):
    """Conv2d (no bias) + BatchNorm + optional ReLU; ``fuse()`` folds the BN into the conv."""

    def __init__(self, cin: int, cout: int, k: int = 1, stride: int = 1, *, groups: int = 1,
                 act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(cout)
        self.act: nn.Module = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    @torch.no_grad()
    def fuse(self) -> None:
        if not isinstance(self.bn, nn.BatchNorm2d):
            return
        bn, conv = self.bn, self.conv
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                          conv.padding, groups=conv.groups, bias=True)
        fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
        fused.bias.copy_(bn.bias - bn.running_mean * scale)
        self.conv = fused.to(conv.weight.device)
        self.bn = nn.Identity()


class SepBlock(nn.Module):
    """Depthwise kxk + pointwise 1x1 (MobileNet-v1 style), residual when shapes allow."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.dw = ConvBNAct(cin, cin, k, stride, groups=cin)
        self.pw = ConvBNAct(cin, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw(self.dw(x))
        return self.act(y + x if self.residual else y)


def _stage(cin: int, cout: int, depth: int, k: int) -> nn.Sequential:
    blocks = [SepBlock(cin, cout, k, stride=2)]
    blocks += [SepBlock(cout, cout, k) for _ in range(depth - 1)]
    return nn.Sequential(*blocks)


def _up_add(top: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
    return nnf.interpolate(top, size=lateral.shape[-2:], mode='nearest') + lateral


class _Head(nn.Module):
    def __init__(self, cin: int, cout: int, bias: float) -> None:
        super().__init__()
        self.body = SepBlock(cin, cin, 3)
        self.out = nn.Conv2d(cin, cout, 1)
        nn.init.normal_(self.out.weight, std=0.01)
        nn.init.constant_(self.out.bias, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))


# ------------------------------------------------------------------------------------ model
class PoseNet(nn.Module):
    """Bottom-up pose network; ``forward(uint8 BGR (N, H, W, 3)) -> (N, 54, H/4, W/4)``."""

    def __init__(self, config: PoseNetConfig | None = None) -> None:
        super().__init__()
        cfg = config or PoseNetConfig()
        self.config = cfg
        self.register_buffer('mean', torch.tensor(_MEAN_BGR).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('inv_std', 1.0 / torch.tensor(_STD_BGR).view(1, 3, 1, 1),
                             persistent=False)
        self.stem = ConvBNAct(3, cfg.stem, 3, stride=2)
        chans = (cfg.stem, *cfg.stages)
        self.stages = nn.ModuleList(
            _stage(chans[i], chans[i + 1], cfg.depths[i], cfg.kernels[i]) for i in range(4))
        c4, c8, c16, c32 = cfg.stages
        self.lat32 = ConvBNAct(c32, cfg.neck, 1)
        self.lat16 = ConvBNAct(c16, cfg.neck, 1, act=False)
        self.lat8 = ConvBNAct(c8, cfg.neck, 1, act=False)
        self.lat4 = ConvBNAct(c4, cfg.head, 1, act=False)
        self.smooth16 = SepBlock(cfg.neck, cfg.neck, 5)
        self.smooth8 = SepBlock(cfg.neck, cfg.neck, 5)
        self.reduce8 = ConvBNAct(cfg.neck, cfg.head, 1, act=False)
        self.smooth4 = SepBlock(cfg.head, cfg.head, 3)
        prior = -math.log((1 - _HEATMAP_PRIOR) / _HEATMAP_PRIOR)
        self.heat_head = _Head(cfg.head, 1 + NUM_KEYPOINTS + 2, 0.0)
        self.offset_head = _Head(cfg.head, 2 * NUM_KEYPOINTS, 0.0)
        with torch.no_grad():
            self.heat_head.out.bias[: 1 + NUM_KEYPOINTS] = prior

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (or float 0..255) BGR ``(N, H, W, 3)`` -> normalised float ``(N, 3, H, W)``."""
        x = images.permute(0, 3, 1, 2).to(self.mean.dtype)
        return (x - self.mean) * self.inv_std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.normalise(images)
        x = self.stem(x)
        f4 = self.stages[0](x)
        f8 = self.stages[1](f4)
        f16 = self.stages[2](f8)
        f32 = self.stages[3](f16)
        p = self.lat32(f32)
        p = self.smooth16(_up_add(p, self.lat16(f16)))
        p = self.smooth8(_up_add(p, self.lat8(f8)))
        p = self.smooth4(_up_add(self.reduce8(p), self.lat4(f4)))
        heat = self.heat_head(p)
        offsets = self.offset_head(p)
        n = NUM_KEYPOINTS
        return torch.cat([heat[:, : 1 + n], offsets, heat[:, 1 + n:]], dim=1)

    def fuse(self) -> PoseNet:
        """Fold every BatchNorm into its conv (inference only; returns self)."""
        for module in self.modules():
            if isinstance(module, ConvBNAct):
                module.fuse()
        return self


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------ weights
@dataclass
class WeightsMeta:
    """What a weights file says about itself besides the tensors."""

    format: str = WEIGHTS_FORMAT
    config: dict[str, Any] = field(default_factory=lambda: asdict(PoseNetConfig()))
    input_size: tuple[int, int] = (320, 240)       # (width, height) it was trained at
    training: dict[str, Any] = field(default_factory=dict)


def save_weights(model: PoseNet, path: str | Path, input_size: tuple[int, int],
                 training: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as an fp16 state_dict with metadata (``WeightsMeta``); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.detach().to('cpu', torch.float16) if v.is_floating_point() else v.cpu())
             for k, v in model.state_dict().items()}
    meta = WeightsMeta(config=asdict(model.config), input_size=tuple(input_size),
                       training=dict(training or {}))
    torch.save({'meta': asdict(meta), 'state_dict': state}, path)
    return path


def load_weights(path: str | Path, device: str | torch.device = 'cpu') -> tuple[PoseNet,
                                                                                 WeightsMeta]:
    """Read a weights file: an fp32 ``PoseNet`` in eval mode on ``device``, and its metadata."""
    blob = torch.load(Path(path), map_location='cpu', weights_only=True)
    if not isinstance(blob, dict) or blob.get('meta', {}).get('format') != WEIGHTS_FORMAT:
        raise ValueError(f'{path}: not a smart_store pose weights file ({WEIGHTS_FORMAT})')
    raw = blob['meta']
    meta = WeightsMeta(format=raw['format'], config=raw['config'],
                       input_size=(int(raw['input_size'][0]), int(raw['input_size'][1])),
                       training=raw.get('training', {}))
    model = PoseNet(PoseNetConfig.from_dict(meta.config))
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in blob['state_dict'].items()}
    model.load_state_dict(state)
    return model.to(device).eval(), meta

"""The 2D pose network: shapes, training, decoding, targets, evaluation, back-ends, weights."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from smart_store.tracking.pose.backend import (
    OnnxPoseBackend,
    PoseBackend,
    TorchPoseBackend,
    YoloPoseBackend,
    select_device,
)
from smart_store.tracking.pose.dataset import (
    FLIP_INDEX,
    Augment,
    CocoPoseDataset,
    make_targets,
    people_from_annotations,
)
from smart_store.tracking.pose.decode import DecodeParams, Detection, decode, decode_cells
from smart_store.tracking.pose.evaluate import coco_keypoint_eval, detections_to_results, evaluate
from smart_store.tracking.pose.network import (
    CHANNELS,
    OUT_CHANNELS,
    PoseNet,
    count_parameters,
    load_weights,
    save_weights,
)
from smart_store.tracking.pose.synthetic import make_dataset, write_dataset
from smart_store.tracking.pose.train import (
    loss_csv_path,
    pose_loss,
    seed_everything,
    train,
    train_step,
)
from smart_store.tracking.pose.transforms import apply_affine, letterbox_matrix, warp_image

SMALL = (128, 96)  # network input used by the fast tests


@pytest.fixture(autouse=True)
def _threads():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # reproducible sums, and kind to a shared 2-core machine
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def tiny() -> tuple[dict, dict[str, np.ndarray]]:
    """Eight 256x192 synthetic images with 1-2 stick figures each."""
    return make_dataset(8, seed=3, size=(256, 192), people=(1, 2), height=(60, 140))


def _source(pixels: dict[str, np.ndarray]):
    return lambda info: pixels[info['file_name']]


def _annotation(ann_id: int, kps: np.ndarray, bbox: list[float]) -> dict:
    flat = [float(v) for v in kps.reshape(-1)]
    return {'id': ann_id, 'image_id': 1, 'category_id': 1, 'keypoints': flat,
            'num_keypoints': int(np.sum(kps[:, 2] > 0)), 'bbox': bbox,
            'area': bbox[2] * bbox[3], 'iscrowd': 0}


def _person_keypoints(x0: float, y0: float) -> np.ndarray:
    """17 labelled keypoints on a 4-pixel grid from (x0, y0), nose unlabelled (flag 0)."""
    kp = np.zeros((17, 3))
    for k in range(17):
        kp[k] = (x0 + 13.0 * (k % 4) + 0.7 * k, y0 + 17.0 * (k // 4) + 0.3 * k, 2)
    kp[0] = 0.0
    return kp


# ------------------------------------------------------------------------------- network
def test_forward_shapes_and_bn_folding():
    torch.manual_seed(0)
    model = PoseNet().eval()
    assert count_parameters(model) < 500_000
    images = torch.randint(0, 256, (2, 96, 128, 3), dtype=torch.uint8)
    with torch.inference_mode():
        out = model(images)
        assert out.shape == (2, OUT_CHANNELS, 24, 32)
        assert out.dtype == torch.float32
        # heatmap heads start at the focal-loss prior, offsets near zero
        assert torch.sigmoid(out[:, CHANNELS.heatmaps]).mean().item() == pytest.approx(0.05,
                                                                                     abs=0.03)
        fused = PoseNet(model.config).eval()
        fused.load_state_dict(model.state_dict())
        torch.testing.assert_close(fused.fuse()(images), out, atol=1e-4, rtol=1e-4)
        # any size that is a multiple of 32 x 16
        assert model(torch.zeros((1, 240, 320, 3), dtype=torch.uint8)).shape == (1, 54, 60, 80)


# ------------------------------------------------------------------------------- training
def _run_steps(tiny, steps: int) -> list[float]:
    coco, pixels = tiny
    seed_everything(7)
    data = CocoPoseDataset(coco, image_source=_source(pixels), input_size=SMALL,
                           augment=Augment(), seed=7)
    batch = default_collate([data[i] for i in range(4)])
    model = PoseNet()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = [train_step(model, batch, opt)[0] for _ in range(steps)]
    model.train()
    with torch.no_grad():
        losses.append(float(pose_loss(model(batch['image']), batch)[0]))
    return losses


def test_training_step_reduces_loss_and_is_reproducible(tiny):
    first = _run_steps(tiny, 1)
    assert first[1] < first[0]          # one step lowers the loss on the same batch
    assert _run_steps(tiny, 1) == first  # same seed -> bit-identical losses


def test_train_writes_weights_csv_and_is_reproducible(tiny, tmp_path):
    coco, pixels = tiny
    lines: list[str] = []
    kwargs = {'image_source': _source(pixels), 'max_images': 4}
    result = train(coco, None, tmp_path / 'a' / 'pose.pt', 2, 2, 2e-3, 5, SMALL, 'cpu',
                   log=lines.append, **kwargs)
    again = train(coco, None, tmp_path / 'b' / 'pose.pt', 2, 2, 2e-3, 5, SMALL, 'cpu',
                  log=None, **kwargs)
    assert [r['loss'] for r in result['history']] == [r['loss'] for r in again['history']]
    assert any('epoch 2/2' in line and 'img/s' in line and 'heatmaps' in line for line in lines)
    rows = list(csv.DictReader(loss_csv_path(tmp_path / 'a' / 'pose.pt').open()))
    assert [int(r['epoch']) for r in rows] == [1, 2]
    assert math.isfinite(float(rows[-1]['loss'])) and float(rows[-1]['images_per_s']) > 0
    _, meta = load_weights(result['weights'])
    assert meta.input_size == SMALL
    assert meta.training['seed'] == 5 and meta.training['data']['images'] == 4


# ------------------------------------------------------------------------------- targets
def test_dataset_targets_for_a_known_annotation():
    kp = _person_keypoints(100.0, 80.0)
    kp[3] = (201.0, 121.0, 2)  # -> input (100.25, 60.25) -> cell (24.6875, 14.6875)
    bbox = [90.0, 70.0, 140.0, 120.0]
    coco = {'images': [{'id': 1, 'file_name': 'a.jpg', 'width': 640, 'height': 480}],
            'annotations': [_annotation(1, kp, bbox)],
            'categories': [{'id': 1, 'name': 'person'}]}
    data = CocoPoseDataset(coco, image_source=lambda _: np.zeros((480, 640, 3), np.uint8),
                           input_size=(320, 240))
    t = data[0]
    assert t['image'].shape == (240, 320, 3) and t['heatmaps'].shape == (17, 60, 80)
    heat = t['heatmaps'][3]
    assert heat[15, 25] == 1.0 and heat.max() == 1.0 and (heat == 1.0).sum() == 1
    np.testing.assert_allclose(t['subpixel'][:, 15, 25].numpy(), [-0.3125, -0.3125])
    assert t['subpixel_mask'][0, 15, 25] == 1.0
    assert t['subpixel_mask'].sum() == 16  # 16 labelled keypoints, distinct cells
    # centre: bbox centre (160, 130) -> input (79.75, 64.75) -> cell (19.5625, 15.8125)
    assert t['centre'][0, 16, 20] == 1.0 and (t['centre'] == 1.0).sum() == 1
    cells = (kp[:, :2] * 0.5 - 0.25 - 1.5) / 4
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            y, x = 16 + dy, 20 + dx
            np.testing.assert_allclose(t['offsets'][6:8, y, x].numpy(), cells[3] - (x, y),
                                       rtol=0, atol=1e-5)
            assert t['offset_mask'][:, y, x].sum() == 32  # all but the unlabelled nose
            assert t['offset_mask'][0:2, y, x].sum() == 0
    assert t['offset_mask'].sum() == 9 * 32
    # the unlabelled nose: no positives, no negatives inside the person's box
    assert t['heatmaps'][0].sum() == 0
    assert t['heatmap_weight'][0, 16, 20] == 0 and t['heatmap_weight'][0, 0, 0] == 1
    assert t['heatmap_weight'][1].min() == 1
    assert t['centre_weight'].min() == 1


def test_augmentation_is_seeded_and_flip_swaps_sides(tiny):
    coco, pixels = tiny
    make = lambda seed: CocoPoseDataset(coco, image_source=_source(pixels), input_size=SMALL,  # noqa: E731
                                        augment=Augment(flip=1.0), seed=seed)
    a, b = make(1), make(1)
    for key in ('image', 'heatmaps', 'offsets'):
        assert torch.equal(a[2][key], b[2][key])
    b.set_epoch(1)
    assert not torch.equal(a[2]['image'], b[2]['image'])
    image, M, people = a.sample(0)
    assert M[0, 0] < 0  # always flipped: mirrored x axis
    raw = np.asarray(a.annotations[a.images[0]['id']][0]['keypoints']).reshape(17, 3)
    mapped = apply_affine(M, raw[:, :2])
    flipped = people[0].keypoints
    for k in range(17):
        if raw[k, 2] > 0:  # row k of the mirrored person = mirror image of row FLIP_INDEX[k]
            np.testing.assert_allclose(flipped[FLIP_INDEX[k], :2], mapped[k], atol=1e-9)
    assert image.shape == (SMALL[1], SMALL[0], 3)


def test_warp_keeps_points_and_pixels_together():
    ys, xs = np.mgrid[:480, :640]
    blob = 255 * np.exp(-((xs - 401.3) ** 2 + (ys - 301.6) ** 2) / (2 * 4.0**2))
    img = np.repeat(np.round(blob).astype(np.uint8)[..., None], 3, axis=2)
    for M in (letterbox_matrix(640, 480, 320, 240),
              np.array([[0.45, 0.08, -10], [-0.08, 0.45, 20]]),
              np.array([[1.1, 0.0, -250], [0.0, 1.1, -200]])):
        out = warp_image(img, M, (320, 240), pad=(0, 0, 0)).astype(float).sum(axis=2)
        ys, xs = np.mgrid[:240, :320]
        centroid = np.array([(out * xs).sum(), (out * ys).sum()]) / out.sum()
        np.testing.assert_allclose(centroid, apply_affine(M, [401.3, 301.6]), atol=0.05)


# ------------------------------------------------------------------------------- decoding
def test_decode_recovers_keypoints_from_ground_truth_maps_exactly():
    people_kp = [_person_keypoints(100.0, 80.0), _person_keypoints(400.0, 230.0)]
    anns = [_annotation(i + 1, kp, [kp[1:, 0].min() - 10, kp[1:, 1].min() - 10, 75.0, 95.0])
            for i, kp in enumerate(people_kp)]
    M = letterbox_matrix(640, 480, 320, 240)
    targets = make_targets(people_from_annotations(anns, M), (320, 240))
    out = torch.zeros((1, OUT_CHANNELS, 60, 80))
    logit = lambda p: torch.logit(torch.from_numpy(p).clamp(1e-6, 1 - 1e-6))  # noqa: E731
    out[0, CHANNELS.centre] = logit(targets['centre'])
    out[0, CHANNELS.heatmaps] = logit(targets['heatmaps'])
    out[0, CHANNELS.offsets] = torch.from_numpy(targets['offsets'])
    out[0, CHANNELS.subpixel] = torch.from_numpy(targets['subpixel'])
    (dets,) = decode(out, [M], [(640, 480)])
    assert len(dets) == 2
    for det in dets:
        # rescored: centre ~1 x mean keypoint confidence ~16/17 (the nose is unlabelled)
        assert isinstance(det, Detection) and det.score == pytest.approx(16 / 17, abs=1e-3)
        truth = min(people_kp, key=lambda kp: abs(kp[5, 0] - det.keypoints[5, 0]))
        labelled = truth[:, 2] > 0
        np.testing.assert_allclose(det.keypoints[labelled, :2], truth[labelled, :2], atol=1e-3)
        assert np.all(det.keypoints[labelled, 2] > 0.99)
        assert det.keypoints[0, 2] < 0.01  # the unlabelled nose: no peak, no confidence
        box, _score, kps = det  # unpacks as (box, score, keypoints)
        assert box[0] <= kps[labelled, 0].min() and box[2] >= kps[labelled, 0].max()
        assert box[1] <= kps[labelled, 1].min() and box[3] >= kps[labelled, 1].max()
    # batched: the same maps twice give the same people twice; a threshold drops them all
    scores, kps = decode_cells(torch.cat([out, out]))
    assert scores.shape == (2, 20) and kps.shape == (2, 20, 17, 3)
    assert decode(out, [M], [(640, 480)], DecodeParams(score_threshold=1.1)) == [[]]


# ------------------------------------------------------------------------------- evaluation
def _truth_detections(coco: dict) -> dict[int, list[Detection]]:
    by_image: dict[int, list[Detection]] = {im['id']: [] for im in coco['images']}
    for ann in coco['annotations']:
        kp = np.asarray(ann['keypoints'], np.float32).reshape(17, 3)
        x, y, w, h = ann['bbox']
        by_image[ann['image_id']].append(Detection(np.array([x, y, x + w, y + h], np.float32),
                                                   1.0, kp))
    return by_image


def test_pycocotools_gives_ap_1_for_perfect_predictions(tiny):
    coco, _ = tiny
    results = [r for image_id, dets in _truth_detections(coco).items()
               for r in detections_to_results(image_id, dets)]
    stats = coco_keypoint_eval(coco, results)
    assert stats['AP'] == pytest.approx(1.0) and stats['AP50'] == pytest.approx(1.0)
    assert stats['AP75'] == pytest.approx(1.0)
    # a shifted copy scores lower; nothing scores zero
    for r in results:
        r['keypoints'] = [v + 6.0 if i % 3 != 2 else v for i, v in enumerate(r['keypoints'])]
    assert coco_keypoint_eval(coco, results)['AP'] < 0.9
    assert coco_keypoint_eval(coco, [])['AP'] == 0.0


class _TruthBackend:
    """A PoseBackend that answers the ground truth of the images it is shown, in order."""

    def __init__(self, coco: dict) -> None:
        self.truth = _truth_detections(coco)
        self.order = sorted(self.truth)
        self.calls = 0

    def infer(self, images: list[np.ndarray]) -> list[list[Detection]]:
        out = [self.truth[self.order[self.calls + i]] for i in range(len(images))]
        self.calls += len(images)
        return out


def test_evaluate_reads_image_files_and_scores_a_backend(tmp_path):
    json_path, root = write_dataset(tmp_path, 3, seed=4, size=(256, 192), height=(60, 140))
    coco = __import__('json').loads(json_path.read_text())
    backend = _TruthBackend(coco)
    assert isinstance(backend, PoseBackend)
    stats = evaluate(backend, json_path, root, batch_size=2)
    assert stats['AP'] == pytest.approx(1.0) and stats['images'] == 3
    # a real (untrained) network runs end to end from a weights file
    save_weights(PoseNet(), tmp_path / 'w.pt', SMALL)
    stats = evaluate(tmp_path / 'w.pt', json_path, root, device='cpu')
    assert 0.0 <= stats['AP'] <= 1.0 and stats['images_per_s'] > 0


# ------------------------------------------------------------------------------- back-ends
def test_device_auto_picks_cpu_here_and_torch_backend_runs():
    assert not torch.cuda.is_available()
    assert select_device('auto').type == 'cpu'
    assert select_device('cpu').type == 'cpu'
    with pytest.raises(RuntimeError):
        select_device('cuda')
    with pytest.raises(ValueError):
        select_device('tpu')
    backend = TorchPoseBackend(None, device='auto', input_size=SMALL)
    assert backend.device.type == 'cpu' and backend.fp16 is False
    with pytest.raises(ValueError):
        TorchPoseBackend(None, device='cpu', input_size=SMALL, fp16=True)
    images = [np.zeros((480, 640, 3), np.uint8), np.full((200, 300, 3), 90, np.uint8)]
    result = backend.infer(images)
    assert isinstance(backend, PoseBackend) and len(result) == 2 and backend.infer([]) == []
    with pytest.raises(ValueError):
        backend.infer([np.zeros((10, 10), np.uint8)])


def test_yolo_adapter_with_a_fake_model():
    kps = np.stack([np.arange(17) * 3.0 + 10, np.arange(17) * 2.0 + 20, np.full(17, 0.8)], 1)
    kps[16] = (700.0, 20.0, 0.9)  # outside a 640-wide image -> confidence 0
    row = np.concatenate([[5.0, 6.0, 60.0, 80.0, 0.9], kps.reshape(-1)])
    low = row.copy()
    low[4] = 0.1
    calls = []

    def fake(images):
        calls.append(len(images))
        return [np.stack([low, row]), np.zeros((0, 56))]

    backend = YoloPoseBackend(fake, score_threshold=0.25)
    assert isinstance(backend, PoseBackend)
    img = np.zeros((480, 640, 3), np.uint8)
    first, second = backend.infer([img, img])
    assert calls == [2] and second == [] and len(first) == 1
    box, score, kp = first[0]
    np.testing.assert_allclose(box, [5, 6, 60, 80])
    assert score == pytest.approx(0.9) and kp.shape == (17, 3) and kp[16, 2] == 0
    np.testing.assert_allclose(kp[:16], kps[:16], rtol=1e-6)

    # per-image callable with (boxes cxcywh, scores, keypoints without confidence)
    def per_image(image):
        return (torch.tensor([[30.0, 40.0, 20.0, 10.0]]), torch.tensor([0.7]),
                torch.from_numpy(kps[None, :, :2].copy()))

    (dets,) = YoloPoseBackend(per_image, batched=False, box_format='cxcywh',
                              pixel_offset=-0.5).infer([img])
    np.testing.assert_allclose(dets[0].box, [19.5, 34.5, 39.5, 44.5])
    assert dets[0].keypoints[0, 2] == 1.0 and dets[0].keypoints[16, 2] == 0.0
    np.testing.assert_allclose(dets[0].keypoints[0, :2], kps[0, :2] - 0.5)

    class Boxes:
        xyxy = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
        conf = torch.tensor([0.6])

    class Keypoints:
        data = torch.from_numpy(kps[None].astype(np.float32))

    class Result:  # the shape of an ultralytics Results object
        boxes = Boxes()
        keypoints = Keypoints()

    (dets,) = YoloPoseBackend(lambda images: [Result() for _ in images]).infer([img])
    assert dets[0].score == pytest.approx(0.6) and dets[0].keypoints[3, 2] == pytest.approx(0.8)
    with pytest.raises(ValueError):
        YoloPoseBackend(lambda images: []).infer([img])


def test_weights_round_trip(tmp_path: Path):
    torch.manual_seed(1)
    model = PoseNet().eval()
    with torch.no_grad():  # non-trivial BN statistics
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    path = save_weights(model, tmp_path / 'pose.pt', (320, 240), {'seed': 3, 'note': 'x'})
    assert path.stat().st_size < 3_000_000
    loaded, meta = load_weights(path)
    assert meta.input_size == (320, 240) and meta.training == {'seed': 3, 'note': 'x'}
    assert not loaded.training
    images = torch.randint(0, 256, (1, 96, 128, 3), dtype=torch.uint8)
    with torch.inference_mode():
        ref = model(images)
        got = loaded(images)
    torch.testing.assert_close(got, ref, atol=2e-2, rtol=1e-2)  # fp16 storage
    # a second save of the loaded weights is exactly the first (fp16 is a fixed point)
    save_weights(loaded, tmp_path / 'again.pt', (320, 240), meta.training)
    again, _ = load_weights(tmp_path / 'again.pt')
    for (k, a), (_, b) in zip(loaded.state_dict().items(), again.state_dict().items(),
                              strict=True):
        assert torch.equal(a, b), k
    (tmp_path / 'bad.pt').write_bytes(b'not a weights file')
    with pytest.raises(Exception):  # noqa: B017 - torch's unpickling error type varies
        load_weights(tmp_path / 'bad.pt')


def test_onnx_backend_matches_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import onnxruntime  # noqa: F401 - pinned in requirements/runtime.txt: must be there
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    torch.manual_seed(2)
    weights = save_weights(PoseNet(), tmp_path / 'pose.pt', SMALL)
    onnx_backend = OnnxPoseBackend(weights, device='auto', num_threads=1,
                                   params=DecodeParams(score_threshold=0.0))
    assert onnx_backend.providers == ['CPUExecutionProvider']
    (exported,) = (tmp_path / 'cache' / 'smart_store' / 'pose').glob('pose.*.128x96.onnx')
    assert not list(tmp_path.glob('*.onnx'))  # never beside the weights
    assert onnx_backend.input_size == SMALL and onnx_backend.device.type == 'cpu'
    again = OnnxPoseBackend(exported)  # an .onnx file directly; its size comes from the graph
    assert again.input_size == SMALL
    torch_backend = TorchPoseBackend(weights, params=DecodeParams(score_threshold=0.0))
    batch = np.random.default_rng(0).integers(0, 256, (3, 96, 128, 3), dtype=np.uint8)
    torch.testing.assert_close(onnx_backend.forward(batch), torch_backend.forward(batch),
                               atol=1e-4, rtol=1e-4)
    images = [np.random.default_rng(1).integers(0, 256, (192, 256, 3), dtype=np.uint8)]
    (a,), (b,) = onnx_backend.infer(images), torch_backend.infer(images)
    assert len(a) == len(b) == 20
    np.testing.assert_allclose(np.stack([d.keypoints for d in a]),
                               np.stack([d.keypoints for d in b]), atol=1e-2)


def test_augment_off_is_the_plain_letterbox(tiny):
    coco, pixels = tiny
    plain = CocoPoseDataset(coco, image_source=_source(pixels), input_size=SMALL)
    off = CocoPoseDataset(coco, image_source=_source(pixels), input_size=SMALL,
                          augment=Augment.off(), seed=9)
    for key in ('image', 'heatmaps', 'centre', 'offsets'):
        assert torch.equal(plain[1][key], off[1][key])


def test_make_backend_picks_onnx_on_a_cpu_and_checks_the_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from smart_store.tracking.pose.backend import make_backend, onnx_available

    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    assert onnx_available()  # pinned in requirements/runtime.txt
    weights = save_weights(PoseNet(), tmp_path / 'pose.pt', SMALL)
    assert isinstance(make_backend('auto', weights, 'cpu'), OnnxPoseBackend)  # no GPU here
    assert isinstance(make_backend('torch', weights, 'cpu'), TorchPoseBackend)
    assert isinstance(make_backend('onnx', weights, 'cpu'), OnnxPoseBackend)
    with pytest.raises(ValueError, match="backend 'tensorrt'"):
        make_backend('tensorrt', weights)

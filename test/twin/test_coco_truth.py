"""The 2D ground truth a pose model trains on: ``truth/coco_keypoints.json`` from ``sim``.

``./smart-store sim`` records a library scenario (small frames, 1 fps); the COCO file beside
the bag is then read with pycocotools and checked against the other truth it must agree with:
the 3D joints of ``joints3d.npz`` projected through each camera, and the renderer's own
keypoints and visibility for the same frame (re-rendered here). COCOeval of the truth against
itself scores AP 1.0: the file is what the field's evaluator expects.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from smart_store.twin.model import COCO_KEYPOINTS
from smart_store.twin.record import RunOptions, TwinRun, coco_person
from smart_store.twin.scenario import load_scenario, scenario_store_config

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = 'simultaneous_two'   # two shoppers reaching into one shelf: people occlude people
W, H, FPS = 160, 120, 1.0


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp('coco') / SCENARIO
    proc = subprocess.run([str(ROOT / 'smart-store'), 'sim', SCENARIO, '-o', str(out),
                           '--resolution', f'{W}x{H}', '--fps', str(FPS)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'done in' in proc.stdout + proc.stderr and (out / 'bag').is_dir()
    return out


def test_the_coco_file_is_well_formed_and_loads_in_pycocotools(run_dir: Path) -> None:
    path = run_dir / 'truth' / 'coco_keypoints.json'
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(path))
    cats = coco.loadCats(coco.getCatIds())
    assert [c['name'] for c in cats] == ['person']
    assert cats[0]['keypoints'] == list(COCO_KEYPOINTS) and len(cats[0]['skeleton']) == 19
    truth = json.loads((run_dir / 'truth' / 'truth.json').read_text())
    cfg = scenario_store_config(load_scenario(SCENARIO))
    frames = int(truth['duration'] * FPS)
    assert len(coco.getImgIds()) == len(cfg.cameras) * frames
    assert set(truth['people'].values()) == {'ben', 'cleo'}
    n_labelled = 0
    for ann in coco.loadAnns(coco.getAnnIds()):
        img = coco.loadImgs(ann['image_id'])[0]
        assert (img['width'], img['height']) == (W, H)
        assert img['file_name'].startswith(img['camera'] + '/')
        kp = np.reshape(ann['keypoints'], (17, 3))
        flags = kp[:, 2]
        assert set(flags) <= {0, 1, 2}
        assert ann['num_keypoints'] == int(np.sum(flags > 0)) > 0
        inside = kp[flags > 0, :2]
        assert np.all((inside >= 0) & (inside < [W, H])), ann   # CameraModel.in_image
        x, y, bw, bh = ann['bbox']
        # every labelled joint in the box (up to the 0.01 px of its rounding)
        assert np.all((inside >= [x - 0.01, y - 0.01]) & (inside <= [x + bw + 0.01, y + bh + 0.01]))
        assert ann['area'] > 0 and ann['iscrowd'] == 0
        assert truth['people'][str(ann['track_id'])] == ann['shopper']
        n_labelled += 1
    assert n_labelled > 20


def test_2d_truth_agrees_with_the_3d_joints_and_the_rendered_frame(run_dir: Path) -> None:
    truth_dir = run_dir / 'truth'
    coco = json.loads((truth_dir / 'coco_keypoints.json').read_text())
    truth = json.loads((truth_dir / 'truth.json').read_text())
    joints = np.load(truth_dir / 'joints3d.npz')
    times, persons, xyz = joints['times'], joints['persons'], joints['joints']
    scenario = load_scenario(truth_dir / 'scenario.yaml')
    scenario = replace(scenario, render=replace(scenario.render, width=W, height=H, fps=FPS))
    cfg = scenario_store_config(scenario)
    twin = TwinRun(cfg, scenario, RunOptions(coco=False))
    renderers = {r.camera.id: r for r in twin.renderers}
    anns: dict[int, list[dict[str, object]]] = {}
    for ann in coco['annotations']:
        anns.setdefault(ann['image_id'], []).append(ann)
    checked = 0
    for img in coco['images'][::5]:
        t = (img['stamp_ns'] - truth['sim_epoch_ns']) / 1e9
        r = renderers[img['camera']]
        people = twin.world.people_at(t)
        # the 3D truth of this frame is the world's poses
        row = int(np.argmin(np.abs(times - t)))
        assert abs(times[row] - t) < 1e-6
        for p in people:
            col = int(np.flatnonzero(persons == p.person)[0])
            assert np.allclose(xyz[row, col], p.joints, atol=1e-4)
        # the 2D truth is those joints projected, with the renderer's visibility
        twin.render_frame(r, t, people)
        want = {}
        for person, kp in r.keypoints_2d(people).items():
            ann = coco_person(kp, img['width'], img['height'])
            if ann is not None:
                want[person] = ann
        got = {a['track_id']: a for a in anns.get(img['id'], [])}
        assert set(got) == set(want), (img, sorted(got), sorted(want))
        for person, ann in got.items():
            kp = np.reshape(ann['keypoints'], (17, 3))
            assert np.array_equal(kp[:, 2], np.reshape(want[person]['keypoints'], (17, 3))[:, 2])
            col = int(np.flatnonzero(persons == person)[0])
            uv, _ = r.model.project(xyz[row, col])
            labelled = kp[:, 2] > 0
            assert np.allclose(kp[labelled, :2], uv[labelled], atol=0.01), (img, person)
            checked += 1
    assert checked > 5


def test_cocoeval_scores_the_truth_against_itself_at_ap_1(run_dir: Path) -> None:
    path = run_dir / 'truth' / 'coco_keypoints.json'
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(path))
        results = [{'image_id': a['image_id'], 'category_id': 1, 'keypoints': a['keypoints'],
                    'score': 1.0} for a in gt.loadAnns(gt.getAnnIds())]
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, 'keypoints')
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)

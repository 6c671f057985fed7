"""Layout primitives from the demo store: complete, in the right place, stable ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from smart_store.config import StoreConfig, load_store_config
from smart_store.layout.markers import camera_frustum, layout_markers

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def cfg() -> StoreConfig:
    return load_store_config(ROOT / 'config' / 'demo_store.yaml')


def test_every_store_element_is_drawn(cfg: StoreConfig) -> None:
    markers = layout_markers(cfg)
    by_ns: dict[str, list] = {}
    for m in markers:
        by_ns.setdefault(m.ns, []).append(m)
    assert len(by_ns['shelves']) == len(cfg.shelves)
    assert len(by_ns['lanes']) == len(by_ns['lane_labels']) == len(cfg.lanes())
    assert len(by_ns['zones']) == len(cfg.zones)
    assert len(by_ns['camera_frusta']) == len(cfg.cameras)
    # Lane labels carry the planogram sku.
    labels = {m.text for m in by_ns['lane_labels']}
    for lane_id, entry in cfg.planogram.items():
        assert f'{lane_id}\n{entry.sku}' in labels


def test_ids_are_unique_per_namespace_and_stable(cfg: StoreConfig) -> None:
    first = layout_markers(cfg)
    keys = [(m.ns, m.id) for m in first]
    assert len(keys) == len(set(keys))
    assert keys == [(m.ns, m.id) for m in layout_markers(cfg)]


def test_lane_cubes_sit_inside_their_shelf(cfg: StoreConfig) -> None:
    lanes = {m.id: m for m in layout_markers(cfg) if m.ns == 'lanes'}
    for i, lane in enumerate(cfg.lanes()):
        marker = lanes[i]
        shelf = cfg.shelf(lane.shelf_id)
        local = shelf.to_local(np.array([marker.position]))[0]
        assert abs(local[0]) <= shelf.width / 2 + 1e-9
        assert abs(local[1]) <= shelf.depth / 2 + 1e-9
        assert 0.0 <= local[2] <= shelf.height
        assert marker.yaw == pytest.approx(shelf.pose.yaw)


def test_camera_frusta_end_on_the_floor(cfg: StoreConfig) -> None:
    for cam in cfg.cameras:
        segments = np.array(camera_frustum(cam, max_depth=2.0))
        assert segments.shape == (16, 3)
        origin = segments[0]
        np.testing.assert_allclose(origin, cam.model.center)
        ends = segments[1::4]
        # Each corner ray stops on the floor, or after max_depth where it misses the floor
        # (corner rays of ceiling cameras that look across the store pass above the horizon).
        on_floor = np.isclose(ends[:, 2], 0.0, atol=1e-6)
        assert on_floor.sum() >= 2, 'the lower image corners of a ceiling camera see the floor'
        np.testing.assert_allclose(np.linalg.norm(ends[~on_floor] - origin, axis=1), 2.0)
        # Either way, they project back to the image corners.
        uv, depth = cam.model.project(ends)
        assert np.all(depth > 0)
        expected = np.array([[0, 0], [cam.width, 0], [cam.width, cam.height], [0, cam.height]])
        np.testing.assert_allclose(uv, expected, atol=0.5)

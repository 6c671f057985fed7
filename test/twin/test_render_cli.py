"""`./smart-store render`: a scenario becomes an MP4 and a PNG contact sheet."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[2]


def test_render_scenario_to_mp4_and_contact_sheet(tmp_path: Path) -> None:
    mp4 = tmp_path / 'single.mp4'
    proc = subprocess.run([str(ROOT / 'smart-store'), 'render', 'single_shopper', '-o', str(mp4),
                           '--fps', '1', '--size', '240'], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    cap = cv2.VideoCapture(str(mp4))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    cap.release()
    assert ok and frames >= 20  # 30 s at 1 fps
    assert frame.shape[0] == 240 and frame.shape[1] > 240  # map beside the camera mosaic
    sheet = cv2.imread(str(mp4.with_suffix('.png')))
    assert sheet is not None and sheet.shape[0] > 200

"""A recorded run's map: people named by the truth's person -> shopper map, actions labelled."""

from __future__ import annotations

import numpy as np

from smart_store.twin.video import _event_labels, _people_from_truth


def test_bag_render_names_people_and_labels_their_actions() -> None:
    joints = np.full((2, 2, 17, 3), np.nan)
    joints[:, 0] = 1.0                       # person 0 (ada) present in both frames
    joints[1, 1] = 2.0                       # person 1 (bo) only in the second
    truth = {'times': np.array([0.0, 1.0]), 'persons': np.array([0, 1]), 'joints': joints}
    people = _people_from_truth(truth, 1.0, {0: 'ada', 1: 'bo'})
    assert [p.shopper for p in people] == ['ada', 'bo']
    positions = {p.shopper: p.joints[11:13, :2].mean(axis=0) for p in people}
    events = [{'t_start': 0.5, 't_end': 1.5, 'shopper': 'ada', 'kind': 'pick', 'qty': 2,
               'sku': 'COLA-330'}]
    ((xy, text, _colour),) = _event_labels(events, 1.0, positions)
    assert text == 'pick 2x COLA-330' and xy == (1.0, 1.0)
    # an older run without the map still renders, with numbered people
    assert [p.shopper for p in _people_from_truth(truth, 0.0)] == ['#0']

"""Cross-view association: group the 2-D detections of one frame set into people, at most one
detection per camera per person, using only the calibration (no appearance).

Two cues, both needed because each alone fails in a crowd:

* **Floor constraint.** Every detection has a single-view floor point (ankle rays intersected
  with the ankle plane, else hips / shoulders at a typical height, ``views.prepare_views``).
  Two detections of one person agree on it within ~0.4 m (wider when it came from hips or
  shoulders). This is cheap, so it also prunes the candidate pairs (a k-d tree / distance
  matrix on the floor points) before any per-joint work.
* **Epipolar distance.** For a candidate pair, every joint confident in both views is checked
  against the other view's epipolar line, symmetrically, in undistorted coordinates and
  normalised by each image's diagonal. People standing on each other's epipolar lines are
  separated by the floor constraint, people close on the floor by their joints.

Clustering is greedy on the pair affinities (best first) with *complete linkage*: two clusters
merge only if they share no camera and every cross pair is an admissible edge, so a chain
``A~B, B~C`` cannot glue ``A`` to ``C``.

**Anchors (tracker predictions).** Before clustering, each tracked person's predicted skeleton
is projected into every camera and matched to that camera's detections with a gated assignment
(floor distance + mean 2-D keypoint distance). Anchored detections form locked clusters (two
anchored clusters never merge), and only the remaining detections go through the pairwise
search - in a steady crowded scene that is almost none, which keeps association fast and the
grouping stable from frame to frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from smart_store.tracking.assignment import gated_assignment
from smart_store.tracking.model import Detection2D
from smart_store.tracking.views import CameraRig, PreparedViews, prepare_views

__all__ = [
    "Anchor",
    "AssociationParams",
    "Associator",
    "Cluster",
    "epipolar_distances",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]

# Above this many detections the candidate pairs come from a k-d tree instead of a dense
# distance matrix.
_KDTREE_MIN = 300


@dataclass(frozen=True)
class AssociationParams:
    """Tuning of the association.

    Attributes:
        min_joint_score: 2-D keypoints below this score are ignored.
        min_joints: Detections with fewer confident keypoints are discarded.
        floor_gate: Largest floor-point disagreement (m) between two views of one person, at
            least; far, grazing views and floor points from hips / shoulders get the wider gate
            ``floor_gate_sigmas * hypot(sigma_i, sigma_j)`` from their uncertainty model
            (``views.floor_sigma``).
        floor_gate_sigmas: Gate width in standard deviations of the floor-point difference.
        keypoint_sigma_px: Assumed 2-D keypoint noise (px) for the floor uncertainty.
        epipolar_gate: Largest mean symmetric epipolar distance, as a fraction of the image
            diagonal (0.04 = 32 px at 640x480).
        min_common_joints: Joints confident in both views needed for an epipolar verdict;
            with fewer, a pair is judged by the floor alone (with a lower affinity).
        epipolar_weight: Share of the epipolar term in the pair affinity (rest: floor).
        anchor_floor_gate: Largest distance (m) between a detection's floor point and a track's
            predicted position, at least (else ``floor_gate_sigmas`` times the detection's
            floor sigma).
        anchor_gate_2d: Largest mean keypoint distance to the projected predicted skeleton, as a
            fraction of the image diagonal.
        anchor_min_confidence: Predicted 3-D joints below this confidence are not projected.
        anchor_candidates: Predictions compared per detection (the nearest on the floor).
    """

    min_joint_score: float = 0.3
    min_joints: int = 4
    floor_gate: float = 0.4
    floor_gate_sigmas: float = 3.0
    keypoint_sigma_px: float = 3.0
    epipolar_gate: float = 0.04
    min_common_joints: int = 3
    epipolar_weight: float = 0.6
    anchor_floor_gate: float = 0.5
    anchor_gate_2d: float = 0.08
    anchor_min_confidence: float = 0.2
    anchor_candidates: int = 3


@dataclass(frozen=True, eq=False)
class Anchor:
    """A tracked person's prediction for the current frame set.

    Attributes:
        track_id: The track.
        floor: ``(2,)`` predicted floor position.
        keypoints: ``(17, 4)`` predicted skeleton ``(x, y, z, confidence)`` (NaN/0 = unknown).
    """

    track_id: int
    floor: FloatArray
    keypoints: FloatArray


@dataclass(frozen=True)
class Cluster:
    """One person's detections: indices into ``PreparedViews``, one per camera."""

    members: tuple[int, ...]
    anchor_id: int | None = None


def epipolar_distances(
    rig: CameraRig, views: PreparedViews, ii: IntArray, jj: IntArray, clip: float
) -> tuple[FloatArray, IntArray]:
    """Mean symmetric epipolar distance of detection pairs ``(ii[p], jj[p])`` (other cameras).

    For a joint seen as ray ``d_i`` from camera ``a`` and ``d_j`` from camera ``b`` (baseline
    ``B = C_b - C_a``), the epipolar plane of ``d_i`` has the normal ``n = d_i x B``; in camera
    ``b``'s normalized image it is the line ``(R_b n) . (x, y, 1) = 0``, whose distance to the
    observation is ``|B . (d_i x d_j)| / |(R_b n)_xy|`` (and symmetrically in camera ``a``).
    Each distance is scaled to a fraction of its image's diagonal, the two are averaged, clipped
    at ``clip`` (one wild joint must not dominate) and averaged over joints confident in both
    views, weighted by the lower of the two scores.

    Returns:
        ``(distance (P,), common joint count (P,))``; distance is NaN where no joint is common.
    """
    ca = views.cam[ii]
    cb = views.cam[jj]
    B = rig.centers[cb] - rig.centers[ca]  # (P, 3)
    di = views.dirs[ii]  # (P, J, 3)
    dj = views.dirs[jj]
    w = np.minimum(views.score[ii], views.score[jj])  # (P, J)
    common = w > 0.0
    di = np.where(common[..., None], di, 1.0)
    dj = np.where(common[..., None], dj, 1.0)
    Bb = B[:, None, :]
    num = np.abs(np.einsum("pjk,pjk->pj", np.cross(di, dj), np.broadcast_to(Bb, di.shape)))
    n_b = np.cross(di, Bb)  # normal of d_i's epipolar plane (world)
    n_a = np.cross(dj, Bb)
    nb_cam = np.einsum("pab,pjb->pja", rig.R[cb], n_b)
    na_cam = np.einsum("pab,pjb->pja", rig.R[ca], n_a)
    den_b = np.maximum(np.hypot(nb_cam[..., 0], nb_cam[..., 1]), 1e-12)
    den_a = np.maximum(np.hypot(na_cam[..., 0], na_cam[..., 1]), 1e-12)
    d = 0.5 * (num / den_b * rig.scale[cb][:, None] + num / den_a * rig.scale[ca][:, None])
    d = np.minimum(d, clip)
    wsum = np.where(common, w, 0.0).sum(axis=1)
    count = common.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(common, w * d, 0.0).sum(axis=1) / wsum
    return np.where(count > 0, mean, np.nan), count.astype(np.intp)


class Associator:
    """Groups the detections of one frame set into people (see the module docstring)."""

    def __init__(self, rig: CameraRig, params: AssociationParams | None = None) -> None:
        self.rig = rig
        self.params = params or AssociationParams()

    def prepare(self, detections_by_camera: Mapping[str, Sequence[Detection2D]]) -> PreparedViews:
        """Flatten, undistort and back-project (``views.prepare_views`` with these params)."""
        p = self.params
        return prepare_views(
            self.rig, detections_by_camera, p.min_joint_score, p.min_joints, p.keypoint_sigma_px
        )

    # ------------------------------------------------------------------ anchors
    def _match_anchors(
        self, views: PreparedViews, anchors: Sequence[Anchor]
    ) -> dict[int, list[int]]:
        """Per camera, assign detections to predicted people. Returns anchor index -> members."""
        p = self.params
        valid_idx = np.flatnonzero(views.valid)
        if not anchors or valid_idx.size == 0:
            return {}
        floors = np.stack([a.floor for a in anchors])  # (K, 2)
        kps = np.stack([a.keypoints for a in anchors])  # (K, J, 4)
        fl = views.floor[valid_idx]
        gate = np.maximum(p.anchor_floor_gate, p.floor_gate_sigmas * views.floor_sigma[valid_idx])
        # The nearest few predictions on the floor per detection (a k-d tree over the anchors).
        k = min(p.anchor_candidates, len(anchors))
        dist, nearest = cKDTree(floors).query(fl, k=k, distance_upper_bound=float(gate.max()))
        dist = dist.reshape(len(fl), k)
        nearest = nearest.reshape(len(fl), k)
        pi, slot = np.nonzero(dist <= gate[:, None])
        if pi.size == 0:
            return {}
        pk = nearest[pi, slot]
        d_floor = dist[pi, slot]
        det = valid_idx[pi]
        cams = views.cam[det]
        X = kps[pk, :, :3]
        conf = kps[pk, :, 3]
        good3 = np.isfinite(conf) & np.isfinite(X).all(axis=2) & (conf >= p.anchor_min_confidence)
        Xc = self.rig.to_camera(cams, np.where(good3[..., None], X, 0.0))  # (P, J, 3)
        depth = Xc[..., 2]
        score = views.score[det]
        ok = good3 & (depth > 0.1) & (score > 0.0)
        inv = 1.0 / np.where(ok, depth, 1.0)
        obs = views.xn[det]
        dx = np.where(ok, Xc[..., 0] * inv - obs[..., 0], 0.0)
        dy = np.where(ok, Xc[..., 1] * inv - obs[..., 1], 0.0)
        err = np.minimum(np.sqrt(dx * dx + dy * dy) * self.rig.scale[cams][:, None],
                         2.0 * p.anchor_gate_2d)
        w = np.where(ok, np.minimum(score, conf), 0.0)
        n_common = ok.sum(axis=1)
        wsum = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            d2 = (w * err).sum(axis=1) / wsum
        floor_term = d_floor / gate[pi]
        has2d = n_common >= p.min_common_joints
        cost = np.where(has2d, 0.5 * floor_term + 0.5 * d2 / p.anchor_gate_2d, floor_term)
        feasible = ~has2d | (d2 <= p.anchor_gate_2d)
        det, pk, cams, cost = det[feasible], pk[feasible], cams[feasible], cost[feasible]
        members: dict[int, list[int]] = {}
        if det.size == 0:
            return members
        # Uncontested pairs (the detection has one candidate anchor and the anchor one candidate
        # detection in that camera) are the assignment's answer already; only the contested
        # rest of each camera goes through the solver. The two sets share no row or column.
        K = len(anchors)
        col_key = cams * K + pk
        row_n = np.bincount(det, minlength=len(views))[det]
        col_n = np.bincount(col_key, minlength=len(self.rig) * K)[col_key]
        easy = (row_n == 1) & (col_n == 1)
        for a, b in zip(det[easy].tolist(), pk[easy].tolist(), strict=True):
            members.setdefault(b, []).append(a)
        hard = np.flatnonzero(~easy)
        if hard.size:
            h_cams = cams[hard]
            for c in np.unique(h_cams).tolist():
                sel = hard[h_cams == c]
                rows, r_inv = np.unique(det[sel], return_inverse=True)
                cols, c_inv = np.unique(pk[sel], return_inverse=True)
                mat = np.full((rows.size, cols.size), np.inf)
                mat[r_inv, c_inv] = cost[sel]
                r, k = gated_assignment(mat, 1.0 + 1e-9)
                for a, b in zip(r.tolist(), k.tolist(), strict=True):
                    members.setdefault(int(cols[b]), []).append(int(rows[a]))
        return members

    # ------------------------------------------------------------------ pairs
    def _candidate_pairs(
        self, views: PreparedViews, free: BoolArray
    ) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
        """Pairs of valid detections in different cameras, at least one free, agreeing on the
        floor. Returns ``(ii, jj, floor distance, pair floor gate)`` with ``ii < jj``."""
        p = self.params
        idx = np.flatnonzero(views.valid)
        empty = (np.empty(0, np.intp), np.empty(0, np.intp), np.empty(0), np.empty(0))
        if idx.size < 2 or not np.any(free[idx]):
            return empty
        sig = views.floor_sigma[idx]
        max_gate = max(p.floor_gate, p.floor_gate_sigmas * float(np.hypot(sig.max(), sig.max())))
        fl = views.floor[idx]
        if idx.size >= _KDTREE_MIN:
            pairs = cKDTree(fl).query_pairs(max_gate, output_type="ndarray")
            a, b = pairs[:, 0], pairs[:, 1]
        else:
            a, b = np.triu_indices(idx.size, k=1)
            diff = fl[a] - fl[b]
            near = (np.abs(diff[:, 0]) <= max_gate) & (np.abs(diff[:, 1]) <= max_gate)
            a, b = a[near], b[near]
        ii, jj = idx[a], idx[b]
        keep = (views.cam[ii] != views.cam[jj]) & (free[ii] | free[jj])
        ii, jj = ii[keep], jj[keep]
        dist = np.linalg.norm(views.floor[ii] - views.floor[jj], axis=1)
        gate = np.maximum(
            p.floor_gate,
            p.floor_gate_sigmas * np.hypot(views.floor_sigma[ii], views.floor_sigma[jj]),
        )
        keep = dist <= gate
        lo = np.minimum(ii[keep], jj[keep])
        hi = np.maximum(ii[keep], jj[keep])
        return lo, hi, dist[keep], gate[keep]

    def _edges(
        self, views: PreparedViews, free: BoolArray
    ) -> tuple[IntArray, IntArray, FloatArray]:
        """Admissible pairs and their affinities in ``(0, 1]``."""
        p = self.params
        ii, jj, dist, gate = self._candidate_pairs(views, free)
        if ii.size == 0:
            return ii, jj, dist
        epi, count = epipolar_distances(self.rig, views, ii, jj, 2.0 * p.epipolar_gate)
        a_floor = 1.0 - dist / gate
        known = count >= p.min_common_joints
        with np.errstate(invalid="ignore"):
            ok = ~known | (epi <= p.epipolar_gate)
            a_epi = 1.0 - epi / p.epipolar_gate
        aff = np.where(
            known,
            p.epipolar_weight * a_epi + (1.0 - p.epipolar_weight) * a_floor,
            0.5 * (1.0 - p.epipolar_weight) * a_floor,
        )
        aff = np.maximum(aff, 1e-6)
        return ii[ok], jj[ok], aff[ok]

    # ------------------------------------------------------------------ public
    def associate(
        self, views: PreparedViews, anchors: Sequence[Anchor] = ()
    ) -> list[Cluster]:
        """Group ``views`` into clusters (people), anchored ones first.

        Every valid detection ends in exactly one cluster (possibly a singleton); invalid
        detections (too few joints, no floor point) in none. Within a cluster the members come
        from different cameras.
        """
        n = len(views)
        anchored = self._match_anchors(views, anchors)
        cluster_of: list[int] = [-1] * n
        members: list[list[int]] = []
        cams: list[set[int]] = []
        anchor_of: list[int | None] = []
        cam_list = views.cam.tolist()
        for k, mem in sorted(anchored.items()):
            cid = len(members)
            members.append(list(mem))
            cams.append({cam_list[i] for i in mem})
            anchor_of.append(anchors[k].track_id)
            for i in mem:
                cluster_of[i] = cid
        free = views.valid.copy()
        for i in range(n):
            if cluster_of[i] >= 0:
                free[i] = False
            elif free[i]:
                cluster_of[i] = len(members)
                members.append([i])
                cams.append({cam_list[i]})
                anchor_of.append(None)
        ii, jj, aff = self._edges(views, free)
        if ii.size:
            admissible = set(zip(ii.tolist(), jj.tolist(), strict=True))
            order = np.argsort(-aff, kind="stable")
            for i, j in zip(ii[order].tolist(), jj[order].tolist(), strict=True):
                a, b = cluster_of[i], cluster_of[j]
                if a == b or (anchor_of[a] is not None and anchor_of[b] is not None):
                    continue
                if cams[a] & cams[b]:
                    continue
                if not all(
                    ((p, q) if p < q else (q, p)) in admissible
                    for p in members[a]
                    for q in members[b]
                ):
                    continue
                if len(members[a]) < len(members[b]) and anchor_of[a] is None:
                    a, b = b, a
                members[a].extend(members[b])
                cams[a] |= cams[b]
                if anchor_of[a] is None:
                    anchor_of[a] = anchor_of[b]
                for m in members[b]:
                    cluster_of[m] = a
                members[b] = []
        out: list[Cluster] = []
        for mem, anc in zip(members, anchor_of, strict=True):
            if mem:
                mem.sort(key=lambda i: cam_list[i])
                out.append(Cluster(tuple(mem), anc))
        return out

    def group(
        self,
        detections_by_camera: Mapping[str, Sequence[Detection2D]],
        anchors: Sequence[Anchor] = (),
    ) -> list[list[Detection2D]]:
        """Convenience: prepare + associate, returning the detections of each person."""
        views = self.prepare(detections_by_camera)
        return [[views.detections[i] for i in c.members] for c in self.associate(views, anchors)]

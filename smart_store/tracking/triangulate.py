"""Confidence-weighted multi-view triangulation of COCO-17 skeletons, vectorised over people,
views and joints.

Method (per joint, all joints of all people solved at once):

1. **Weighted linear (DLT) triangulation** in undistorted normalized image coordinates. Each
   view ``v`` with normalized projection ``P_v = [R | t]`` and observation ``(x, y)`` adds the
   rows ``x P3 - P1`` and ``y P3 - P2``; the point minimises the weighted algebraic error with
   the homogeneous coordinate fixed to 1 (a 3x3 normal-equation solve, closed form). The
   algebraic residual of a view equals ``depth x`` its normalized reprojection error, so
   weighting a row by ``score * focal / depth`` makes the minimised quantity the
   score-weighted *pixel* error: far cameras are not over-weighted. The depth comes from the
   cluster's single-view floor points (without those: from a first solution, then one
   re-solve).
2. **Reprojection gating, robust re-solve.** A joint whose largest reprojection error among its
   views exceeds the gate (a fraction of the image diagonal) drops one view - the one whose
   removal leaves the smallest worst error (leave-one-out over all views, vectorised) - and is
   solved again, while at least 3 views remain. A 2-view joint that fails the gate is not
   triangulated (two rays cannot say which view is wrong).
3. **Per-joint confidence** = mean 2-D score of the used views x ``(1 - 0.5**views)`` (2 views
   0.75, 3 views 0.88, 4 views 0.94) x ``1 / (1 + (rms error / error_scale)**2)``.

The floor point of a person is the ground projection of the triangulated hip midpoint (else the
shoulders, else the ankles, else all joints). With one view only (or when nothing
triangulates), the fallback is the single-view floor point from ``views.prepare_views``: the
ankle rays intersected with the ankle plane, or hips / shoulders at a typical height.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from smart_store.geometry.camera import CameraModel
from smart_store.tracking.model import (
    ANKLES,
    HIPS,
    NUM_KEYPOINTS,
    SHOULDERS,
    Detection2D,
    Person3D,
)
from smart_store.tracking.views import CameraRig, PreparedViews, prepare_views

__all__ = [
    "TriangulationParams",
    "TriangulationResult",
    "Triangulator",
    "triangulate_views",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class TriangulationParams:
    """Tuning of the triangulation.

    Attributes:
        min_joint_score: 2-D keypoints below this score are not used.
        reprojection_gate: Largest admissible reprojection error of a view, as a fraction of
            that camera's image diagonal (0.025 = 20 px at 640x480).
        error_scale: Reprojection error (fraction of the diagonal) at which the joint
            confidence halves.
        min_depth: Points closer than this to a camera (m along its axis) are rejected.
        robust_iterations: How many views a joint may drop at most.
        min_floor_confidence: Joints below this confidence do not define the floor point.
        outlier_view_share: A view whose confident joints were used less than this share of
            the time (robust re-solve dropped the rest) is removed from the person (its
            detection most likely shows somebody else).
        fallback_floor_gate: When nothing triangulates, the members' single-view floor points
            are averaged only if each pair agrees within ``max(this, 3 * hypot(sigmas))`` m;
            otherwise every member becomes a single-view person of its own.
    """

    min_joint_score: float = 0.3
    reprojection_gate: float = 0.025
    error_scale: float = 0.01
    min_depth: float = 0.2
    robust_iterations: int = 3
    min_floor_confidence: float = 0.15
    outlier_view_share: float = 0.5
    fallback_floor_gate: float = 0.4


@dataclass(frozen=True, eq=False)
class TriangulationResult:
    """Batched triangulation output for ``M`` people with up to ``V`` views each.

    Attributes:
        points: ``(M, J, 3)`` store-frame joints (NaN where not triangulated).
        confidence: ``(M, J)`` in ``[0, 1]``, 0 = not triangulated.
        used: ``(M, V, J)`` which views the final solution used.
        error: ``(M, V, J)`` reprojection error per view as a fraction of the image diagonal
            (NaN where the view has no observation).
    """

    points: FloatArray
    confidence: FloatArray
    used: BoolArray
    error: FloatArray


def _solve3(N: FloatArray, r: FloatArray) -> tuple[FloatArray, BoolArray]:
    """Solve symmetric 3x3 systems ``N x = r`` (``(..., 3, 3)``, ``(..., 3)``) in closed form.

    Returns ``(x, ok)``; ``ok`` is False where the system is (near) singular, i.e. fewer than
    two independent rays.
    """
    a, b, c = N[..., 0, 0], N[..., 0, 1], N[..., 0, 2]
    d, e, f = N[..., 1, 1], N[..., 1, 2], N[..., 2, 2]
    A00 = d * f - e * e
    A01 = c * e - b * f
    A02 = b * e - c * d
    A11 = a * f - c * c
    A12 = b * c - a * e
    A22 = a * d - b * b
    det = a * A00 + b * A01 + c * A02
    # Scale-free singularity test: det against the cube of the trace (a single ray gives a
    # rank-2 system with det ~ 0 relative to its size).
    trace = a + d + f
    ok = np.abs(det) > 1e-10 * np.maximum(trace, 1e-300) ** 3
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    r0, r1, r2 = r[..., 0], r[..., 1], r[..., 2]
    x = np.stack(
        [
            (A00 * r0 + A01 * r1 + A02 * r2) * inv,
            (A01 * r0 + A11 * r1 + A12 * r2) * inv,
            (A02 * r0 + A12 * r1 + A22 * r2) * inv,
        ],
        axis=-1,
    )
    return x, ok


class _Problem:
    """Arrays of one batched triangulation: ``M`` people, ``V`` view slots, ``J`` joints.

    The weighted normal matrix of a point, ``G = sum_v w_v^2 (r1 r1^T + r2 r2^T)`` with the DLT
    rows ``r1 = x P3 - P1`` and ``r2 = y P3 - P2``, expands to
    ``sum_v w^2 [(x^2 + y^2) P3 P3^T - x (P3 P1^T + P1 P3^T) - y (P3 P2^T + P2 P3^T)
    + P1 P1^T + P2 P2^T]``: four per-view 4x4 matrices (computed once) weighted by per-joint
    coefficients, i.e. one batched ``(J, 4V) @ (4V, 16)`` product per person.
    """

    def __init__(
        self, R: FloatArray, t: FloatArray, scale: FloatArray, xn: FloatArray, w: FloatArray
    ) -> None:
        # R (M, V, 3, 3), t (M, V, 3), scale (M, V) = focal/diag, xn (M, V, J, 2), w (M, V, J)
        self.R, self.t, self.scale, self.xn, self.w = R, t, scale, xn, w
        self.RT = R.transpose(0, 1, 3, 2)
        P = np.concatenate([R, t[..., None]], axis=3)  # (M, V, 3, 4)
        P1, P2, P3 = P[:, :, 0, :], P[:, :, 1, :], P[:, :, 2, :]

        def outer(a: FloatArray, b: FloatArray) -> FloatArray:
            return a[..., :, None] * b[..., None, :]

        B31 = outer(P3, P1)
        B32 = outer(P3, P2)
        basis = np.stack(
            [outer(P3, P3), B31 + B31.transpose(0, 1, 3, 2), B32 + B32.transpose(0, 1, 3, 2),
             outer(P1, P1) + outer(P2, P2)],
            axis=2,
        )  # (M, V, 4, 4, 4)
        M, V = R.shape[:2]
        self.basis = basis.reshape(M, V, 4, 16)
        self.basis_flat = self.basis.reshape(M, V * 4, 16)
        x, y = xn[..., 0], xn[..., 1]  # (M, V, J)
        self.terms = np.stack([x * x + y * y, -x, -y, np.ones_like(x)], axis=3)  # (M, V, J, 4)

    def normal(self, omega: FloatArray) -> FloatArray:
        """Normal matrices ``(M, J, 4, 4)`` for view weights ``omega`` ``(M, V, J)``."""
        M, V, J = omega.shape
        coef = (omega * omega)[..., None] * self.terms  # (M, V, J, 4)
        coef = coef.transpose(0, 2, 1, 3).reshape(M, J, V * 4)
        return (coef @ self.basis_flat).reshape(M, J, 4, 4)

    def solve(self, omega: FloatArray) -> tuple[FloatArray, BoolArray]:
        """Weighted linear solution ``(M, J, 3)`` for view weights ``omega`` ``(M, V, J)``."""
        G = self.normal(omega)
        return _solve3(G[..., :3, :3], -G[..., :3, 3])

    def per_view(self, fm: IntArray, fj: IntArray, omega: FloatArray) -> FloatArray:
        """Per-view normal-matrix terms ``(F, V, 4, 4)`` of the points ``(fm, fj)``."""
        coef = (omega[fm, :, fj] ** 2)[..., None] * self.terms[fm, :, fj]  # (F, V, 4)
        C = np.einsum("fvk,fvkq->fvq", coef, self.basis[fm])
        return C.reshape(C.shape[0], C.shape[1], 4, 4)

    def reproject(self, X: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Joints ``(M, J, 3)`` into every view -> (error fraction, depth), each ``(M, V, J)``."""
        Xc = X[:, None, :, :] @ self.RT + self.t[:, :, None, :]  # (M, V, J, 3)
        depth = Xc[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / depth
        dx = Xc[..., 0] * inv - self.xn[..., 0]
        dy = Xc[..., 1] * inv - self.xn[..., 1]
        err = np.sqrt(dx * dx + dy * dy) * self.scale[:, :, None]
        return err, depth


def _triangulate_batch(
    problem: _Problem, depth_hint: FloatArray, params: TriangulationParams
) -> TriangulationResult:
    """Weighted DLT + reprojection gating + leave-one-out robust re-solve (see module doc)."""
    w = problem.w  # (M, V, J) scores, 0 = unused
    V = w.shape[1]
    use = w > 0.0
    hint = np.where(np.isfinite(depth_hint) & (depth_hint > params.min_depth), depth_hint, 3.0)
    omega = np.where(use, w * problem.scale[:, :, None] / hint[:, :, None], 0.0)

    def solve(om: FloatArray) -> tuple[FloatArray, BoolArray, FloatArray, FloatArray]:
        X, ok = problem.solve(om)
        err, depth = problem.reproject(X)
        return X, ok, err, depth

    X, ok, err, depth = solve(omega)
    in_front = depth > params.min_depth
    behind = np.any(use & ~in_front)
    use &= in_front
    if not np.all(np.isfinite(depth_hint)):
        # Without a depth hint the weights were a guess: re-weight with the solved depths (far
        # views must not count more) and solve again.
        omega = np.where(use, w * problem.scale[:, :, None] / np.where(use, depth, 1.0), 0.0)
        X, ok, err, depth = solve(omega)
    elif behind:
        omega = np.where(use, omega, 0.0)
        X, ok, err, depth = solve(omega)

    gate = params.reprojection_gate
    for _ in range(max(0, params.robust_iterations)):
        bad_view = use & ~((depth > params.min_depth) & (err <= gate))
        n_use = use.sum(axis=1)  # (M, J)
        failing = ok & np.any(bad_view, axis=1) & (n_use >= 3)
        if not np.any(failing):
            break
        fm, fj = np.nonzero(failing)
        # Leave-one-out for the failing joints only: F joints x V candidate views to drop.
        C = problem.per_view(fm, fj, omega)  # per-view terms (F, V, 4, 4)
        G_loo = C.sum(axis=1)[:, None] - C  # without view v: (F, Vdrop, 4, 4)
        X_loo, ok_loo = _solve3(G_loo[..., :3, :3], -G_loo[..., :3, 3])  # (F, Vdrop, 3)
        # Errors of every remaining view for every candidate drop: (F, Vdrop, Vview).
        Rf = problem.R[fm]  # (F, V, 3, 3)
        tf = problem.t[fm]
        Xc = np.einsum("fvab,fdb->fdva", Rf, X_loo) + tf[:, None, :, :]
        dep = Xc[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            proj = Xc[..., :2] / dep[..., None]
        obs = problem.xn[fm, :, fj]  # (F, V, 2)
        e_loo = np.linalg.norm(proj - obs[:, None], axis=-1) * problem.scale[fm][:, None, :]
        use_f = use[fm, :, fj]  # (F, V)
        remaining = use_f[:, None, :] & ~np.eye(V, dtype=bool)[None]
        e_loo = np.where(remaining & (dep > params.min_depth), e_loo,
                         np.where(remaining, np.inf, 0.0))
        worst = e_loo.max(axis=2)  # (F, Vdrop)
        worst = np.where(use_f & ok_loo, worst, np.inf)
        drop = np.argmin(worst, axis=1)
        omega[fm, drop, fj] = 0.0
        use[fm, drop, fj] = False
        X, ok, err, depth = solve(omega)

    n_use = use.sum(axis=1)
    final_bad = np.any(use & ~((depth > params.min_depth) & (err <= gate)), axis=1)
    good = ok & (n_use >= 2) & ~final_bad & np.all(np.isfinite(X), axis=-1)
    wsum = np.where(use, w, 0.0).sum(axis=1)
    mean_score = np.where(n_use > 0, wsum / np.maximum(n_use, 1), 0.0)
    err_used = np.where(use, err, 0.0)
    rms = np.sqrt((err_used**2).sum(axis=1) / np.maximum(n_use, 1))
    conf = mean_score * (1.0 - 0.5 ** n_use) / (1.0 + (rms / params.error_scale) ** 2)
    conf = np.where(good, np.clip(conf, 0.0, 1.0), 0.0)
    points = np.where(good[..., None], X, np.nan)
    err_out = np.where(w > 0.0, err, np.nan)
    return TriangulationResult(points, conf, use & good[:, None, :], err_out)


def _floor_of(
    points: FloatArray, conf: FloatArray, min_conf: float
) -> tuple[FloatArray, BoolArray]:
    """Floor point per person from triangulated joints: hips, else shoulders, else ankles, else
    all confident joints. ``points`` ``(M, J, 3)``, ``conf`` ``(M, J)``."""
    M = points.shape[0]
    out = np.full((M, 2), np.nan)
    todo = np.ones(M, dtype=bool)
    all_joints = tuple(range(NUM_KEYPOINTS))
    for joints in (HIPS, SHOULDERS, ANKLES, all_joints):
        c = conf[:, joints]
        ok = c >= min_conf
        n = ok.sum(axis=1)
        take = todo & (n > 0)
        if np.any(take):
            p = np.where(ok[..., None], points[:, joints, :2], 0.0)
            out[take] = p[take].sum(axis=1) / n[take, None]
            todo &= ~take
        if not np.any(todo):
            break
    return out, ~todo


class Triangulator:
    """Turns clusters of detections (one per camera) into ``Person3D``s."""

    def __init__(self, rig: CameraRig, params: TriangulationParams | None = None) -> None:
        self.rig = rig
        self.params = params or TriangulationParams()

    def _solve(
        self, views: PreparedViews, clusters: list[list[int]], which: list[int]
    ) -> tuple[dict[int, tuple[FloatArray, FloatArray, float] | None], dict[int, set[int]]]:
        """Triangulate clusters ``which`` (all with >= 2 members) in one batch.

        Returns the results (``None`` where nothing triangulated) and, per cluster, the members
        that look like somebody else: views whose confident joints the robust solve mostly
        rejected, or whose single-view floor point disagrees with the triangulated one.
        """
        p = self.params
        V = max(len(clusters[k]) for k in which)
        M = len(which)
        mem = np.full((M, V), -1, dtype=np.intp)
        for row, k in enumerate(which):
            mem[row, : len(clusters[k])] = clusters[k]
        pad = mem < 0
        safe = np.where(pad, 0, mem)
        cam = views.cam[safe]
        w = np.where(pad[:, :, None], 0.0, views.score[safe])
        w = np.where(w >= p.min_joint_score, w, 0.0)
        xn = np.where(w[..., None] > 0.0, views.xn[safe], 0.0)
        # Depth hint: distance from each camera to the cluster's single-view floor points.
        fl = np.where(pad[:, :, None], np.nan, views.floor[safe])
        sg = views.floor_sigma[safe]
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            centre = np.nanmean(fl, axis=1)  # (M, 2)
        target = np.concatenate([centre, np.full((M, 1), 1.0)], axis=1)
        depth_hint = np.linalg.norm(self.rig.centers[cam] - target[:, None, :], axis=-1)
        problem = _Problem(self.rig.R[cam], self.rig.t[cam], self.rig.scale[cam], xn, w)
        res = _triangulate_batch(problem, depth_hint, p)
        floors, has = _floor_of(res.points, res.confidence, p.min_floor_confidence)
        kps = np.concatenate([res.points, res.confidence[..., None]], axis=2)
        sigmas = _triangulated_sigma(res.confidence).tolist()
        observed = (w > 0.0).sum(axis=2)  # (M, V)
        used = res.used.sum(axis=2)
        outlier = (observed >= 4) & (used < p.outlier_view_share * observed)
        outlier &= (res.confidence > 0.0).sum(axis=1)[:, None] >= 4
        with np.errstate(invalid="ignore"):
            off = np.linalg.norm(fl - floors[:, None, :], axis=2)
            outlier |= ~pad & (off > np.maximum(p.fallback_floor_gate, 3.0 * sg))
        outlier &= has[:, None]
        results: dict[int, tuple[FloatArray, FloatArray, float] | None] = {}
        removed: dict[int, set[int]] = {}
        for row, k in enumerate(which):
            results[k] = (kps[row], floors[row], sigmas[row]) if has[row] else None
            if outlier[row].any():
                removed[k] = set(mem[row][outlier[row]].tolist())
        return results, removed

    def triangulate(
        self,
        views: PreparedViews,
        clusters: Sequence[Sequence[int]],
        anchor_ids: Sequence[int | None] | None = None,
    ) -> list[Person3D]:
        """One ``Person3D`` per cluster (indices into ``views``, at most one per camera).

        A member that shows somebody else (see ``_solve``) is moved out into a single-view person
        of its own and the cluster solved again without it; a cluster where nothing
        triangulates and whose members disagree on the floor falls apart into single-view
        people.
        """
        anchor_ids = list(anchor_ids) if anchor_ids is not None else [None] * len(clusters)
        work = [list(c) for c in clusters]
        multi = [k for k, c in enumerate(work) if len(c) >= 2]
        results: dict[int, tuple[FloatArray, FloatArray, float] | None] = {}
        if multi:
            results, removed = self._solve(views, work, multi)
            for k, bad in removed.items():
                work[k] = [i for i in work[k] if i not in bad]
                results[k] = None
                for i in sorted(bad):  # somebody else: a single-view person of its own
                    work.append([i])
                    anchor_ids.append(None)
            again = [k for k in removed if len(work[k]) >= 2]
            if again:
                redo, _ = self._solve(views, work, again)
                results.update(redo)
        clusters = work
        people: list[Person3D] = []
        ids = self.rig.ids
        cam_list = views.cam.tolist()
        all_dets = views.detections
        expanded: list[tuple[int, Sequence[int]]] = []
        for k, members in enumerate(clusters):
            if results.get(k) is None and len(members) > 1 and not self._floors_agree(
                views, members
            ):
                expanded.extend((-1, [i]) for i in members)  # split: single-view people
            else:
                expanded.append((k, members))
        for k, members in expanded:
            dets = tuple(all_dets[i] for i in members)
            cams = tuple(ids[cam_list[i]] for i in members)
            score = sum(d.score for d in dets) / len(dets) if dets else 0.0
            got = results.get(k)
            anchor = anchor_ids[k] if k >= 0 else None
            if got is not None:
                kp, floor, sigma = got
                people.append(Person3D(kp, floor, sigma, cams, dets, True, score, anchor))
                continue
            # Fallback: inverse-variance mean of the members' single-view floor points.
            idx = np.asarray(members, dtype=np.intp)
            fl = views.floor[idx]
            sg = views.floor_sigma[idx]
            ok = np.all(np.isfinite(fl), axis=1) & np.isfinite(sg)
            if not np.any(ok):
                continue
            iv = 1.0 / sg[ok] ** 2
            floor = (fl[ok] * iv[:, None]).sum(axis=0) / iv.sum()
            sigma = float(1.0 / np.sqrt(iv.sum()))
            kp = np.full((NUM_KEYPOINTS, 4), np.nan)
            kp[:, 3] = 0.0
            people.append(Person3D(kp, floor, sigma, cams, dets, False, score, anchor))
        return people

    def _floors_agree(self, views: PreparedViews, members: Sequence[int]) -> bool:
        """Do the members' single-view floor points agree pairwise (see ``fallback_floor_gate``)?"""
        idx = np.asarray(members, dtype=np.intp)
        fl = views.floor[idx]
        sg = views.floor_sigma[idx]
        d = np.linalg.norm(fl[:, None] - fl[None], axis=2)
        gate = np.maximum(self.params.fallback_floor_gate, 3.0 * np.hypot(sg[:, None], sg[None]))
        with np.errstate(invalid="ignore"):
            return bool(np.all(d <= gate))


def _triangulated_sigma(conf: FloatArray) -> FloatArray:
    """Floor uncertainty (m) of triangulated people ``conf (M, J)``: ~6 cm for a well-seen
    torso, up to 15 cm."""
    torso = conf[:, list(HIPS + SHOULDERS)].max(axis=1)
    return 0.06 + 0.09 * (1.0 - np.clip(torso, 0.0, 1.0))


def triangulate_views(
    cameras: Sequence[CameraModel],
    uv: ArrayLike,
    scores: ArrayLike | None = None,
    params: TriangulationParams | None = None,
) -> tuple[FloatArray, TriangulationResult]:
    """Triangulate one person's joints from ``V`` views (a convenience for tools and tests).

    Args:
        cameras: ``V`` camera models.
        uv: ``(V, J, 2)`` distorted pixels (NaN = not seen).
        scores: ``(V, J)`` keypoint scores (default 1 where ``uv`` is finite).
        params: Tuning.

    Returns:
        ``(keypoints (J, 4) x, y, z, confidence, full batched result with M = 1)``.
    """
    params = params or TriangulationParams()
    pts = np.asarray(uv, dtype=np.float64)
    V, J = pts.shape[:2]
    sc = np.where(np.all(np.isfinite(pts), axis=2), 1.0, 0.0) if scores is None else (
        np.asarray(scores, dtype=np.float64))
    rig = CameraRig({f"v{v}": cam for v, cam in enumerate(cameras)})
    if J == NUM_KEYPOINTS:
        dets = {
            f"v{v}": [Detection2D(f"v{v}", np.zeros(4), np.column_stack([pts[v], sc[v]]))]
            for v in range(V)
        }
        views = prepare_views(rig, dets, min_score=params.min_joint_score, min_joints=0)
        xn, w, cam = views.xn, views.score, views.cam
    else:
        xn = np.full((V, J, 2), np.nan)
        for v in range(V):
            ok = np.all(np.isfinite(pts[v]), axis=1) & (sc[v] >= params.min_joint_score)
            if np.any(ok):
                xn[v, ok] = rig.undistort(v, pts[v, ok])
        w = np.where(np.all(np.isfinite(xn), axis=2) & (sc >= params.min_joint_score), sc, 0.0)
        cam = np.arange(V, dtype=np.intp)
    problem = _Problem(
        rig.R[cam][None], rig.t[cam][None], rig.scale[cam][None], np.nan_to_num(xn)[None], w[None]
    )
    hint = np.full((1, V), np.nan)
    res = _triangulate_batch(problem, hint, params)
    kp = np.concatenate([res.points[0], res.confidence[0][:, None]], axis=1)
    return kp, res

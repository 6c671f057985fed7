"""Geometry for the store: camera models and floor-plan polygons (numpy / OpenCV only).

Nothing here imports ROS; the ROS shells convert to and from messages.
"""

from smart_store.geometry.camera import WORLD_UP, CameraModel, scale_intrinsics
from smart_store.geometry.errors import GeometryError
from smart_store.geometry.polygon import (
    as_polygon,
    convex_polygons_overlap,
    intervals_overlap,
    point_in_polygon,
    polygon_area,
    polygon_contains,
    polygon_grid_samples,
    polygon_signed_area,
    polygons_overlap,
    rect_corners,
    segments_cross,
    yaw_rotation,
)

__all__ = [
    "WORLD_UP",
    "CameraModel",
    "GeometryError",
    "as_polygon",
    "convex_polygons_overlap",
    "intervals_overlap",
    "point_in_polygon",
    "polygon_area",
    "polygon_contains",
    "polygon_grid_samples",
    "polygon_signed_area",
    "polygons_overlap",
    "rect_corners",
    "scale_intrinsics",
    "segments_cross",
    "yaw_rotation",
]

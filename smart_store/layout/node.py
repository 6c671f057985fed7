"""store_layout node: publishes the static store as a latched MarkerArray for RViz."""

from __future__ import annotations

import math
import sys

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from rclpy.node import Node
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from smart_store.config import load_store_config
from smart_store.graph.table import LAYOUT
from smart_store.layout.markers import MarkerSpec, layout_markers
from smart_store.resources import default_store_config
from smart_store.ros.params import declare_float, declare_str
from smart_store.ros.qos import profile
from smart_store.ros.runner import run_node

MARKER_TYPES = {
    'cube': Marker.CUBE,
    'line_strip': Marker.LINE_STRIP,
    'line_list': Marker.LINE_LIST,
    'text': Marker.TEXT_VIEW_FACING,
    'triangle_list': Marker.TRIANGLE_LIST,
}


def to_marker(spec: MarkerSpec, frame_id: str) -> Marker:
    """Copy a ROS-free MarkerSpec into a visualization_msgs/Marker."""
    m = Marker()
    m.header.frame_id = frame_id
    m.ns = spec.ns
    m.id = spec.id
    m.type = MARKER_TYPES[spec.kind]
    m.action = Marker.ADD
    m.pose.position.x, m.pose.position.y, m.pose.position.z = spec.position
    m.pose.orientation.z = math.sin(spec.yaw / 2.0)
    m.pose.orientation.w = math.cos(spec.yaw / 2.0)
    m.scale.x, m.scale.y, m.scale.z = spec.scale
    m.color = ColorRGBA(r=spec.color[0], g=spec.color[1], b=spec.color[2], a=spec.color[3])
    m.points = [Point(x=p[0], y=p[1], z=p[2]) for p in spec.points]
    m.text = spec.text
    m.lifetime = Duration()  # forever
    m.frame_locked = True
    return m


class StoreLayoutNode(Node):
    """Loads the store config once and publishes its layout on a latched topic."""

    def __init__(self) -> None:
        super().__init__('store_layout')
        path = declare_str(self, 'store_config', '', 'store config YAML; empty = demo store')
        period = declare_float(self, 'republish_period', 0.0,
                               'seconds between republishing; 0 = once (the topic is latched)',
                               low=0.0, high=3600.0)
        depth = declare_float(self, 'frustum_depth', 2.0,
                              'm, length of camera frustum edges that miss the floor',
                              low=0.1, high=20.0)
        self._config = load_store_config(path or default_store_config())
        # Transient local: RViz or any late subscriber gets the layout without a republish.
        self._pub = self.create_publisher(MarkerArray, LAYOUT.name, profile(LAYOUT.qos))
        self._msg = MarkerArray(markers=[to_marker(s, self._config.frame_id)
                                         for s in layout_markers(self._config, depth)])
        self.publish()
        if period > 0.0:
            self._timer = self.create_timer(period, self.publish)
        self.get_logger().info(
            f'published {len(self._msg.markers)} layout markers of "{self._config.name}" '
            f'on {LAYOUT.name} (frame {self._config.frame_id})')

    def publish(self) -> None:
        stamp = self.get_clock().now().to_msg()
        for marker in self._msg.markers:
            marker.header.stamp = stamp
        self._pub.publish(self._msg)


def main(args: list[str] | None = None) -> int:
    return run_node(StoreLayoutNode, args if args is not None else sys.argv)


if __name__ == '__main__':
    raise SystemExit(main())

"""rclpy helpers shared by the nodes: QoS profiles, parameter declaration, stamps.

Only node modules import this package; the pure-logic stages never do.
"""

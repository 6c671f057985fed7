"""An honest stand-in for a stage whose issue is still open.

It joins the graph under its real name so that the graph starts whole, says clearly that it is
not implemented, and publishes nothing: no fake output for downstream stages to trust.
"""

from __future__ import annotations

from rclpy.node import Node

from smart_store.ros.runner import run_node


class PlaceholderNode(Node):
    """Logs, once, that this stage is not implemented yet."""

    def __init__(self, name: str, issue: int) -> None:
        super().__init__(name)
        self.declare_parameter('store_config', '')
        self.get_logger().warning(
            f'{name} is not implemented yet (issue #{issue}); it publishes nothing.')


def main_placeholder(name: str, issue: int) -> int:
    """Entry point body for a placeholder executable."""
    return run_node(lambda: PlaceholderNode(name, issue))

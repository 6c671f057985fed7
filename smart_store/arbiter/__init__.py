"""Stage: arbiter. Turns weight events and reaches into per-session carts (issue #6).

Pure modules (no rclpy): ``model`` (outputs), ``policy`` (thresholds), ``lanes`` (what each
lane holds), ``products`` (weight -> items), ``assign`` (weight events -> reaches) and
``arbiter`` (:class:`CartArbiter`, the decision rules). ``node.py`` is the ROS shell.
"""

from smart_store.arbiter.arbiter import ArbiterOutput, CartArbiter
from smart_store.arbiter.lanes import LaneContents
from smart_store.arbiter.model import Cart, CartLine, CartUpdate, Reason, ReviewItem, ReviewKind
from smart_store.arbiter.policy import ArbiterPolicy

__all__ = [
    "ArbiterOutput",
    "ArbiterPolicy",
    "Cart",
    "CartArbiter",
    "CartLine",
    "CartUpdate",
    "LaneContents",
    "Reason",
    "ReviewItem",
    "ReviewKind",
]

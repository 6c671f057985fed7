"""Store configuration: load, validate and model the store-config YAML.

Usage::

    from smart_store.config import load_store_config, ConfigError
    cfg = load_store_config("config/demo_store.yaml")

Nothing here imports ROS, so offline tools and tests can use it directly.
"""

from smart_store.config.errors import ConfigError
from smart_store.config.loader import MIN_FLOOR_SHARE, load_store_config, parse_store_config
from smart_store.config.model import (
    HUB_KINDS,
    ZONE_KINDS,
    CameraConfig,
    DistanceSensor,
    Hub,
    Lane,
    Level,
    LoadCellChannel,
    PlanogramEntry,
    Pose2D,
    Product,
    Shelf,
    StoreConfig,
    Zone,
)

__all__ = [
    "HUB_KINDS",
    "MIN_FLOOR_SHARE",
    "ZONE_KINDS",
    "CameraConfig",
    "ConfigError",
    "DistanceSensor",
    "Hub",
    "Lane",
    "Level",
    "LoadCellChannel",
    "PlanogramEntry",
    "Pose2D",
    "Product",
    "Shelf",
    "StoreConfig",
    "Zone",
    "load_store_config",
    "parse_store_config",
]

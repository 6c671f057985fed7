"""Declaring node parameters with descriptors, the ROS way (ranges, read-only, descriptions)."""

from __future__ import annotations

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
)
from rclpy.node import Node


def declare_str(node: Node, name: str, default: str, description: str, *,
                read_only: bool = True) -> str:
    """Declare a string parameter and return its value."""
    desc = ParameterDescriptor(
        name=name, type=ParameterType.PARAMETER_STRING, description=description,
        read_only=read_only)
    return str(node.declare_parameter(name, default, desc).value)


def declare_float(node: Node, name: str, default: float, description: str, *, low: float,
                  high: float, read_only: bool = False) -> float:
    """Declare a float parameter limited to [low, high] and return its value."""
    desc = ParameterDescriptor(
        name=name, type=ParameterType.PARAMETER_DOUBLE, description=description,
        read_only=read_only,
        floating_point_range=[FloatingPointRange(from_value=low, to_value=high, step=0.0)])
    return float(node.declare_parameter(name, float(default), desc).value)


def declare_int(node: Node, name: str, default: int, description: str, *, low: int,
                high: int, read_only: bool = False) -> int:
    """Declare an integer parameter limited to [low, high] and return its value."""
    desc = ParameterDescriptor(
        name=name, type=ParameterType.PARAMETER_INTEGER, description=description,
        read_only=read_only, integer_range=[IntegerRange(from_value=low, to_value=high, step=1)])
    return int(node.declare_parameter(name, int(default), desc).value)


def declare_bool(node: Node, name: str, default: bool, description: str, *,
                 read_only: bool = False) -> bool:
    """Declare a boolean parameter and return its value."""
    desc = ParameterDescriptor(
        name=name, type=ParameterType.PARAMETER_BOOL, description=description,
        read_only=read_only)
    return bool(node.declare_parameter(name, bool(default), desc).value)


def declare_str_list(node: Node, name: str, description: str) -> list[str]:
    """Declare a string-array parameter (default: empty) and return its value."""
    from rclpy.parameter import Parameter  # noqa: PLC0415

    desc = ParameterDescriptor(name=name, type=ParameterType.PARAMETER_STRING_ARRAY,
                               description=description, read_only=True)
    value = node.declare_parameter(name, Parameter.Type.STRING_ARRAY, desc).value
    return [str(v) for v in (value or [])]

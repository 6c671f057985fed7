"""The distance_driver node: an honest placeholder until issue #4 lands (ros/placeholder.py)."""

from smart_store.ros.placeholder import main_placeholder


def main() -> int:
    return main_placeholder('distance_driver', 4)


if __name__ == '__main__':
    raise SystemExit(main())

"""The reach_detector node: an honest placeholder until issue #6 lands (ros/placeholder.py)."""

from smart_store.ros.placeholder import main_placeholder


def main() -> int:
    return main_placeholder('reach_detector', 6)


if __name__ == '__main__':
    raise SystemExit(main())

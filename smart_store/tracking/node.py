"""The tracker node: an honest placeholder until issue #5 lands (ros/placeholder.py)."""

from smart_store.ros.placeholder import main_placeholder


def main() -> int:
    return main_placeholder('tracker', 5)


if __name__ == '__main__':
    raise SystemExit(main())

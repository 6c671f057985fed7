"""The billing node: an honest placeholder until issue #7 lands (ros/placeholder.py)."""

from smart_store.ros.placeholder import main_placeholder


def main() -> int:
    return main_placeholder('billing', 7)


if __name__ == '__main__':
    raise SystemExit(main())

"""Stage: the store's digital twin (scenarios, simulated people and shelves, rendered cameras,
emulated sensors, ground truth, rosbag2 recording and replay)."""

"""Stage: the static store layout for RViz (floor, zones, shelves, lanes, camera frusta)."""

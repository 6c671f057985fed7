"""Stage: drivers."""

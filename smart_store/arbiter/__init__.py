"""Stage: arbiter."""

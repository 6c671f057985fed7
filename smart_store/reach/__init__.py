"""Stage: reach."""

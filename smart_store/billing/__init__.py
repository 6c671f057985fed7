"""Stage: billing."""

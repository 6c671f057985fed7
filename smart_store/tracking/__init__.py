"""Stage: tracking."""

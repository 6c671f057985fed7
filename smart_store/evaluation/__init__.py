"""Scoring against the twin's ground truth: receipts, events, tracking."""

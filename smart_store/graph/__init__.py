"""The node-graph table and the pip process supervisor behind ``./smart-store up``."""

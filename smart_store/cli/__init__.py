"""The ``./smart-store`` command line (one module per subcommand)."""

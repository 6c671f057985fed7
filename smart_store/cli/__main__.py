"""``python -m smart_store.cli``: what ``./smart-store`` runs."""

from smart_store.cli.main import main

raise SystemExit(main())

"""``python -m zapdesk``: the same as the ``zapdesk`` command."""

from zapdesk.cli import main

raise SystemExit(main())

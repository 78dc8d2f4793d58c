"""``python -m gateway``: the same as ``zapdesk gateway``."""

import sys

from zapdesk.cli import main

raise SystemExit(main(["gateway", *sys.argv[1:]]))

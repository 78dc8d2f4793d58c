"""zapdesk: the command line and the plumbing that core and gateway share (settings, logging, HTTP).

Nothing here imports ``core`` or ``gateway`` at module level; only ``zapdesk.cli`` reaches them,
lazily, per subcommand.
"""

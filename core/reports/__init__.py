"""Reports: the figures a desk is managed by, computed from the conversations' audit trail."""

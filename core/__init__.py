"""core: the desk service (inbox, storage, realtime, API)."""

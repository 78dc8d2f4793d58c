"""The inbox: what the gateway's events do to contacts, channels, conversations and messages.

``ingest`` applies one signed batch in one transaction; the rest are its parts: identity
resolution (``contacts``), the conversation lifecycle (``lifecycle``), message changes
(``messages``), channels (``channels``), and the notices published after commit (``notices``).
"""

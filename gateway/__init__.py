"""gateway: the WhatsApp session manager (supervisor, session hosts, outbox, HTTP API)."""

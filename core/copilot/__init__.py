"""The reply copilot: drafts an attendant's next reply from the conversation, past replies and
the knowledge base, through an OpenAI-compatible endpoint or a local engine."""

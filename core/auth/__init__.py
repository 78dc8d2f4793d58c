"""Who is asking: passwords, tokens, the current user, roles."""

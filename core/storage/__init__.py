"""Storage: engine factory, models and migrations helpers (SQLite or PostgreSQL)."""

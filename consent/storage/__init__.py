"""Storage: the engine and sessions, the tables, and their migrations."""

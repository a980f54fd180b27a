"""The follow-up database: SQLite by default, PostgreSQL by URL (same code)."""

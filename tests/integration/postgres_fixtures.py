"""PostgreSQL fixtures (filled in by the PostgreSQL adapter work)."""

"""Redis fixtures (filled in by the Redis adapter work)."""

"""rooms_adapters: the ports of ``rooms_domain`` over PostgreSQL, Redis and memory."""

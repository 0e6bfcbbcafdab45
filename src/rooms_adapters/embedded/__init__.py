"""Database servers started from Python wheels, for machines that have none installed."""

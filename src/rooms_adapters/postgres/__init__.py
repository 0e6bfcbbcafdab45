"""The domain's ports over PostgreSQL (asyncpg), the schema and its check."""

from rooms_adapters.postgres.pool import PoolSettings, create_pool
from rooms_adapters.postgres.schema import SCHEMA_SQL, apply_schema, schema_differences
from rooms_adapters.postgres.unit_of_work import PostgresUnitOfWork, PostgresUnitOfWorkFactory
from rooms_adapters.postgres.users import add_user, user_exists

__all__ = [
    "SCHEMA_SQL",
    "PoolSettings",
    "PostgresUnitOfWork",
    "PostgresUnitOfWorkFactory",
    "add_user",
    "apply_schema",
    "create_pool",
    "schema_differences",
    "user_exists",
]

"""The PostgreSQL store, for several replicas: the same parts as ``store/sqlite/`` under
the same file names, through asyncpg."""

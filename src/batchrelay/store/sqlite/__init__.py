"""The embedded SQLite store, for one process: the same parts as ``store/postgres/`` under
the same file names."""

"""PostgreSQL plumbing: where the database is, its migrations, and the connection pool."""

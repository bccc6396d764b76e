"""Topics projected into PostgreSQL: the read models the API serves."""

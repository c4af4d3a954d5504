"""Storage: SQLAlchemy 2.0 mappings, the database engine, sealing of secrets, the audit chain."""

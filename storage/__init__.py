"""Persistence: SQLAlchemy 2 async models, repositories, unit of work, encrypted files."""

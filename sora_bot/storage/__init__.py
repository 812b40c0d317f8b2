"""Storage: the SQLite database and its migrations, job rows, meta, backups, retention."""

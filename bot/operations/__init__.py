"""Running the service: the file store in use, metrics, backups, start-up warm-up."""

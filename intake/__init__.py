"""The pure domain of the second-opinion intake: no I/O, no web, no database."""

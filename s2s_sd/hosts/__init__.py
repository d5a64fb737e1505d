"""Transport, lock, sync and state: everything that spans hosts."""

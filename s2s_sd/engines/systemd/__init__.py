"""The systemd engine: `units` installs the generated units on this host and talks to its
systemd; `runtime` moves, starts and stops groups across the hosts (`Admin`)."""

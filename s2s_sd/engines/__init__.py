"""Engines: systemd (pystemd), Pacemaker (crm_* tools), network (pyroute2)."""

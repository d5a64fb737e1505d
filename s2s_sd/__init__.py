"""s2s-sd: service groups on host groups, run by systemd or Pacemaker."""

__version__ = "0.1.0"

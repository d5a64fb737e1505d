"""The host side of every cross-host request (`s2s-sd agent`, and in-process for the
admin's own host): one module of operations per concern, one table (`dispatch`)."""

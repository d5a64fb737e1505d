"""The installed package's version, as the hosts compare it (the fire drill warns when a
host runs another version than the admin's)."""

from __future__ import annotations


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("s2s-sd")
    except PackageNotFoundError:
        return "unknown"

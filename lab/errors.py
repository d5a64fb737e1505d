"""Errors of the lab driver."""

from __future__ import annotations

from s2s_sd.errors import OperationFailed


class LabError(OperationFailed):
    """The lab could not be built, booted, reached or torn down; the message says why."""

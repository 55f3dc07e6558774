"""Open-file limit for processes that hold one socket per request in flight.

Usage:
    from sftkit.common.oslimits import raise_open_files
    limit = raise_open_files(2048)   # the soft limit now in force, e.g. 2048 (or less if capped)
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def raise_open_files(wanted: int) -> int | None:
    """Raise the soft RLIMIT_NOFILE towards `wanted` (never above the hard limit, never down).

    Many systems start processes at a soft limit of 1,024 while allowing far more, so 1,024
    connections plus the files and sockets of the process fail with "Too many open files".
    Returns the soft limit in force afterwards, or None where it cannot be read (no `resource`).
    """
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return None
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        return soft
    except (ImportError, ValueError, OSError) as exc:  # not fatal: the caller decides
        log.warning("could not raise the open-files limit: %s", exc)
        return None

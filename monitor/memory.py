"""The C allocator, set for a daemon that holds much for long and allocates from several threads.

With glibc's defaults the daemon kept hundreds of megabytes it no longer used: every thread that
allocates (the database writer, feed parsing, the ``/metrics`` renderer) gets a heap of its own,
up to eight per core, and a freed large block (a slice of ``/metrics``, a list of every channel)
raises the size below which the next ones come from a heap instead of their own mapping, where
they leave holes. At 100,000 channels, after the first round: 1,530–1,584 MB resident with the
defaults, 1,255–1,285 MB with two heaps and a fixed mapping threshold, 1,087 MB once trimmed.

``tune`` sets two heaps and a fixed threshold (128 KiB, glibc's own default, which then stays)
at the start of ``run``, before any thread; it leaves the allocator as it is when the environment
already says how (``MALLOC_ARENA_MAX``, ``MALLOC_MMAP_THRESHOLD_``, ``GLIBC_TUNABLES``), and on a
C library other than glibc. ``keep_trimmed`` gives the pages of free blocks inside the heaps back
to the system every minute (``malloc_trim``: some milliseconds, off the event loop).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import platform
from collections.abc import Mapping
from typing import Any

M_MMAP_THRESHOLD = -3  # mallopt's parameters, from glibc's malloc.h
M_ARENA_MAX = -8
ARENAS = 2
MMAP_THRESHOLD = 128 * 1024
TRIM_EVERY = 60.0
ENVIRONMENT = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")


def glibc() -> Any | None:
    """The running C library when it is glibc (with ``mallopt`` and ``malloc_trim``), else None."""
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None
    return libc


def tune(environ: Mapping[str, str] | None = None, libc: Any | None = None) -> str:
    """Set the allocator for the daemon (see the module); says what it did, for the log."""
    environ = os.environ if environ is None else environ
    libc = glibc() if libc is None else libc
    if libc is None:
        return "not glibc: left as it is"
    named = [name for name in ENVIRONMENT if name in environ]
    if named:
        return f"left as the environment sets it ({', '.join(named)})"
    if not (libc.mallopt(M_ARENA_MAX, ARENAS) and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)):
        return "glibc refused the settings: left at its defaults"
    return f"glibc: {ARENAS} heaps, blocks from {MMAP_THRESHOLD // 1024} KiB mapped apart"


async def keep_trimmed(every: float = TRIM_EVERY, libc: Any | None = None) -> None:
    """Give free pages inside the heaps back every ``every`` seconds, until cancelled."""
    libc = glibc() if libc is None else libc
    if libc is None:
        return
    while True:
        await asyncio.sleep(every)
        await asyncio.to_thread(libc.malloc_trim, 0)

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

Python's own collector makes a full pass whenever the objects that survived its younger passes
grow by a quarter; at 10,000 channels that was every 10 s, 150–220 ms each with the event loop
held (a scrape caught in one took that much longer). ``freeze_loaded`` leaves what the daemon
loaded before its first poll (modules, configuration, the first judgement) out of those passes,
which then took 7–60 ms. It is called once per start, when no connection or poll exists yet:
an object frozen never goes to a full pass, so a cycle it joins later would never be freed.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
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


def freeze_loaded() -> int:
    """Leave every object alive now out of the collector's full passes (see the module); what
    an earlier start froze is looked at again first. Returns how many objects are frozen."""
    gc.unfreeze()  # a restart on a new configuration: the old daemon's objects may be garbage
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()

"""Measurement only: log every group commit of a daemon to ``$CHANNEL_MONITOR_COMMIT_LOG``.

One line per ``Store.record_polls`` call: the time, the polls it stored and the database
thread's CPU seconds for it. Loaded by Python at start-up when this directory is on
``PYTHONPATH`` (``COMMITS=file benchmarks/daemon_load.sh …`` puts it there); ``summary.py``
reads the log.
"""

import os
import time

_LOG = os.environ.get("CHANNEL_MONITOR_COMMIT_LOG")
if _LOG:
    from monitor import storage

    _log = open(_LOG, "a", buffering=1)  # noqa: SIM115  (open while the daemon runs)
    _record_polls = storage.Store.record_polls

    def _logged(self, polls):  # type: ignore[no-untyped-def]
        cpu = time.thread_time()
        counts = _record_polls(self, polls)
        _log.write(f"{time.time():.3f} {len(polls)} {time.thread_time() - cpu:.6f}\n")
        return counts

    storage.Store.record_polls = _logged  # type: ignore[method-assign]

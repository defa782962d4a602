"""The C allocator's settings (``monitor/memory.py``): what is set, when it is left alone, and
that they do on glibc (the container's C library, and CI's) what the daemon sets them for, in a
child process each: they are the process's own."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from monitor import memory
from monitor.memory import keep_trimmed, tune
from tests.e2e.daemon import Daemon


class FakeLibc:
    def __init__(self, answer: int = 1) -> None:
        self.answer = answer
        self.calls: list[tuple[str, tuple[int, ...]]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", (param, value)))
        return self.answer

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", (pad,)))
        return 1


def test_two_heaps_and_a_fixed_mapping_threshold_are_set() -> None:
    libc = FakeLibc()
    said = tune(environ={}, libc=libc)
    assert libc.calls == [("mallopt", (-8, 2)), ("mallopt", (-3, 128 * 1024))]
    assert said == "glibc: 2 heaps, blocks from 128 KiB mapped apart"


@pytest.mark.parametrize("name", ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"])
def test_the_allocator_is_left_as_the_environment_sets_it(name: str) -> None:
    libc = FakeLibc()
    said = tune(environ={name: "4", "PATH": "/bin"}, libc=libc)
    assert libc.calls == []
    assert said == f"left as the environment sets it ({name})"


def test_a_refused_setting_is_said() -> None:
    assert tune(environ={}, libc=FakeLibc(answer=0)) == (
        "glibc refused the settings: left at its defaults"
    )


def test_another_c_library_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory.platform, "libc_ver", lambda: ("", ""))
    assert memory.glibc() is None
    assert tune(environ={}) == "not glibc: left as it is"
    asyncio.run(asyncio.wait_for(keep_trimmed(every=0.01), 5))  # returns at once: nothing to do


async def test_free_pages_are_given_back_at_every_period_until_cancelled() -> None:
    libc = FakeLibc()
    task = asyncio.create_task(keep_trimmed(every=0.01, libc=libc))
    deadline = time.monotonic() + 10
    while len(libc.calls) < 3:
        assert time.monotonic() < deadline, libc.calls
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert set(libc.calls) == {("malloc_trim", (0,))}


def child(body: str) -> Any:
    """Run ``body`` in a fresh interpreter; what it prints is JSON."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(body)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


HEAPS = """
    import ctypes, json, os, tempfile, threading
    from monitor import memory
    if {tune}:
        memory.tune(environ={{}})
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    start, hold = threading.Barrier(8), []
    def work():
        start.wait()  # all at once: each thread without a heap of its own wants one
        hold.append([bytearray(4096) for _ in range(200)])
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    handle, path = tempfile.mkstemp()
    os.close(handle)
    out = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(out))
    libc.fclose(ctypes.c_void_p(out))
    print(json.dumps(open(path).read().count("<heap nr=")))
    os.unlink(path)
"""


def test_threads_share_two_heaps_once_tuned() -> None:
    assert child(HEAPS.format(tune=False)) > 2  # glibc's default: a heap per thread
    assert child(HEAPS.format(tune=True)) <= 2


TRIM = """
    import asyncio, json, time
    from monitor.memory import keep_trimmed
    def rss():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) // 1024
    blocks = [bytes(3000) + bytes([i % 256]) for i in range(60_000)]  # 180 MB, off pymalloc
    kept = blocks[::16]  # one block in sixteen held: the freed ones are holes in the heap
    del blocks
    before = rss()
    async def trimmed():
        task = asyncio.create_task(keep_trimmed(every=0.01))
        deadline = time.monotonic() + 10
        while rss() > before - 100 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        task.cancel()
        return rss()
    print(json.dumps([before, asyncio.run(trimmed())]))
"""


def test_pages_freed_inside_the_heap_are_given_back() -> None:
    before, after = child(TRIM)
    assert before > 150  # MB: the holes are still resident
    assert after < before - 100


def test_the_daemon_sets_the_allocator_before_it_starts(tmp_path: Any) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[monitor]\ndatabase = "sqlite:///{tmp_path}/db.sqlite"\n')
    said = {}
    for env in ({}, {"MALLOC_ARENA_MAX": "8"}):
        daemon = Daemon(config, env=env).start()
        try:
            asyncio.run(daemon.wait_ready())
        finally:
            assert daemon.stop() == 0
        said[bool(env)] = [line for line in daemon.log.splitlines() if "memory allocator" in line]
    assert len(said[False]) == 1 and "glibc: 2 heaps" in said[False][0], said
    started = [line for line in daemon.log.splitlines() if "channel-monitor started" in line]
    assert started and int(re.search(r"objects_frozen=(\d+)", started[0])[1]) > 10_000, started
    assert "left as the environment sets it (MALLOC_ARENA_MAX)" in said[True][0], said


FREEZE = """
    import gc, json, weakref
    from monitor.memory import freeze_loaded
    class Node:
        pass
    def cycle():
        a, b = Node(), Node()
        a.other, b.other = b, a
        return a
    dead = weakref.ref(cycle())  # garbage already, in a cycle
    kept = cycle()
    later = weakref.ref(kept)
    frozen = freeze_loaded()
    said = {"garbage_freed": dead() is None, "frozen": frozen}
    del kept  # a frozen cycle becomes garbage: no full pass looks at it
    gc.collect()
    said["frozen_cycle_kept"] = later() is not None
    freeze_loaded()  # a restart looks at what the last start froze
    said["freed_at_the_next_start"] = later() is None
    print(json.dumps(said))
"""


def test_what_is_loaded_is_frozen_and_the_next_start_looks_at_it_again() -> None:
    said = child(FREEZE)
    assert said["garbage_freed"]  # collected first: garbage is never frozen
    assert said["frozen"] > 10_000  # the modules, at least
    assert said["frozen_cycle_kept"]  # frozen: out of the full passes
    assert said["freed_at_the_next_start"]

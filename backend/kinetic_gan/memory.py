"""Handing freed memory back to the operating system after a burst (glibc only).

ZeroMQ buffers a whole multipart message before a socket can read any of it, so a hostile
message of many frames is allocated in full and then dropped. glibc keeps such freed small
blocks in its arenas; ``malloc_trim`` returns them, so one attack does not raise the
process's resident size for good. Elsewhere this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):  # musl and others have no malloc_trim
        return None
    return libc


def release_free_memory() -> None:
    """Return freed heap memory to the OS where the C library can (glibc's malloc_trim)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def resident_mib(pid: int | str = "self") -> float:
    """Resident set size of a process in MiB (Linux ``/proc``; 0.0 where unknown)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0

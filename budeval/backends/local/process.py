"""Waiting for processes without polling, and signalling them safely.

`pidfd_open` gives a file descriptor that becomes readable when a process exits, whether or not
it is our child, so both freshly launched and adopted (after a restart) supervisors are awaited the
same way on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal


async def wait_for_exit(pid: int) -> None:
    """Return when process `pid` has exited (immediately if it is already gone)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    exited = loop.create_future()
    loop.add_reader(fd, lambda: exited.done() or exited.set_result(None))
    try:
        await exited
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    reap(pid)


def reap(pid: int) -> None:
    """Collect the exit status of our own child so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def signal_process(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)

"""Crash a service the hard way: SIGKILL its process (no shutdown, no flush), then start it.

That is what an OOM kill or a host-side ``kill -9`` does. Whatever the service acknowledged
before must come back from its write-ahead log; a graceful ``docker stop`` would flush
first and prove nothing. ``docker kill`` marks the container stopped on purpose, so its
restart policy does not bring it back behind the check's back: the check starts it and
times the way back to ready.
"""

from __future__ import annotations

from obsgate.bringup.stack import ServiceHandle
from obsgate.core.wait import poll

KILLED_TIMEOUT_S = 15.0


def sigkill(handle: ServiceHandle) -> None:
    """SIGKILL the service's main process and wait until Docker reports the container down."""
    pid = handle.container.attrs["State"]["Pid"]
    handle.container.kill(signal="SIGKILL")
    poll(lambda: handle.container.attrs["State"]["Pid"] != pid, timeout_s=KILLED_TIMEOUT_S,
         what=f"{handle.name} (pid {pid}) to die of SIGKILL", evidence=handle.log_tail)


def crash_and_start(handle: ServiceHandle) -> float:
    """SIGKILL ``handle`` and start it again; seconds from the start until its healthcheck passes."""
    sigkill(handle)
    return handle.start()

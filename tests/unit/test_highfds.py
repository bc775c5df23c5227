"""Long-lived sockets are renumbered above FD_SETSIZE and keep working."""

import os
import socket

from emulator.fabric.highfds import FD_SETSIZE, lifted


def test_a_lifted_socket_is_numbered_high_and_still_carries_data() -> None:
    left, right = socket.socketpair()
    low = left.fileno()
    left.setblocking(False)
    moved = lifted(left)
    try:
        assert moved.fileno() >= FD_SETSIZE
        assert left.fileno() == -1  # the low number was given back
        assert not os.path.exists(f"/proc/self/fd/{low}") or os.readlink(
            f"/proc/self/fd/{low}") != os.readlink(f"/proc/self/fd/{moved.fileno()}")
        assert moved.gettimeout() == 0.0
        right.sendall(b"ping")
        assert moved.recv(4) == b"ping"
        assert moved.family == socket.AF_UNIX
    finally:
        moved.close()
        right.close()


def test_a_socket_already_high_is_left_alone() -> None:
    left, right = socket.socketpair()
    moved = lifted(left)
    try:
        assert lifted(moved) is moved
    finally:
        moved.close()
        right.close()

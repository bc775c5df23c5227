"""Programs and sockets for probes are opened inside lab namespaces, never the machine's."""

from __future__ import annotations

import os

import pytest

from emulator.probes.datagrams import Endpoint, Sender
from emulator.probes.engine import MachineNamespaceRefused
from emulator.probes.namespaced import popen_in, run_in, socket_in


def test_nothing_is_started_or_opened_in_the_machines_namespace():
    own = os.getpid()  # the tests run in the machine's own network namespace
    with pytest.raises(MachineNamespaceRefused):
        socket_in(own)
    with pytest.raises(MachineNamespaceRefused):
        popen_in(own, ["true"], {})
    with pytest.raises(MachineNamespaceRefused):
        run_in(own, ["true"], {})
    with pytest.raises(MachineNamespaceRefused):
        Sender(Endpoint(own, "127.0.0.1"), Endpoint(own, "127.0.0.1"))

"""A container's console: input typed before its start, its end of input, its terminal."""

from __future__ import annotations

import os
import tty

from emulator.cnm.consoles import Console


def test_input_before_the_start_reaches_the_process_and_its_end_too():
    console = Console(tty=False, log=None)
    console.write(b"typed early\n")
    console.close_stdin()  # the client's input ended before the start
    read, write = os.pipe()
    console.begin(None, write)
    with os.fdopen(read, "rb") as stdin:
        assert stdin.read() == b"typed early\n"  # then end of file: the pipe was closed


def test_a_terminal_copies_output_to_listeners_and_the_log(tmp_path):
    log = tmp_path / "c.log"
    console = Console(tty=True, log=log)
    chunks, stop = console.listen()
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo: what the listener gets is what the process wrote
    console.begin(master, None)
    console.resize(30, 100)
    os.write(slave, b"prompt> ")
    assert chunks.get(timeout=5) == b"prompt> "
    console.write(b"ls\n")
    assert os.read(slave, 100) == b"ls\n"
    os.close(slave)  # the process ended: the terminal closes
    assert chunks.get(timeout=5) is None
    stop()
    assert log.read_bytes() == b"prompt> "

"""The log file of a lab's background process, which `cnm lab logs` prints.

Once the process has claimed the lab's run directory, its standard output and
error, and every record logged under the `emulator` logger (such as an internal
error the Engine API logs with `logging.getLogger("emulator.api")`), go to
`lab.log` there. The file lives exactly as long as the lab: it goes with the run
directory when the lab stops or `cnm clean` removes what a killed lab left.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def send_output_to(path: Path) -> None:
    """From now on this process's stdout, stderr and `emulator` log records are
    appended to `path` (as are those of children that keep our stdout and stderr)."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    finally:
        os.close(fd)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    logger = logging.getLogger("emulator")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # Mininet gives the root logger a handler of its own

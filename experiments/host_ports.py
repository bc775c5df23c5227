"""Run the `host-ports` experiment: the same as `cnm run host-ports`."""

import sys

from emulator.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "host-ports", *sys.argv[1:]]))

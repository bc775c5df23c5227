"""Run the `tour` experiment: the same as `cnm run tour`."""

import sys

from emulator.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "tour", *sys.argv[1:]]))

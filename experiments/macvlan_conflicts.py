"""Run the `macvlan-conflicts` experiment: the same as `cnm run macvlan-conflicts`."""

import sys

from emulator.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "macvlan-conflicts", *sys.argv[1:]]))

"""Run the `bench-bringup` experiment: the same as `cnm run bench-bringup`."""

import sys

from emulator.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "bench-bringup", *sys.argv[1:]]))

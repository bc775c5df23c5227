"""Run the `bench-conflicts` benchmark: the same as `cnm run bench-conflicts`."""

import sys

from emulator.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "bench-conflicts", *sys.argv[1:]]))

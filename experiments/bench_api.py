"""Run the `bench-api` benchmark: the same as `cnm run bench-api`."""

import sys

from emulator.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "bench-api", *sys.argv[1:]]))

"""Run the `bench-probes` benchmark: the same as `cnm run bench-probes`."""

import sys

from emulator.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "bench-probes", *sys.argv[1:]]))

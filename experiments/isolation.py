"""Run the `isolation` experiment: the same as `cnm run isolation`."""

import sys

from emulator.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "isolation", *sys.argv[1:]]))

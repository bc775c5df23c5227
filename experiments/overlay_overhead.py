"""Run the `overlay-overhead` experiment: the same as `cnm run overlay-overhead`."""

import sys

from emulator.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "overlay-overhead", *sys.argv[1:]]))

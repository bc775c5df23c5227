"""python -m emulator.mesh ..."""

import sys

from emulator.mesh.cli import main

sys.exit(main())

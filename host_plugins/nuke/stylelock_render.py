"""Render a StyleLock node from the command line (farm):

    nuke -t stylelock_render.py SCRIPT NODE [--frames=RANGE]

Exits 0 when every frame is on disk, else non-zero with one line on stderr (see `stylelock_nuke.farm`).
"""

import sys

from stylelock_nuke.farm import main

sys.exit(main(sys.argv[1:]))

"""`python -m stylelock.server.cli`: the same as the `stylelock` command."""

import sys

from stylelock.server.cli import main

sys.exit(main())

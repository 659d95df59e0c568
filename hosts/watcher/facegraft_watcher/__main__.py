"""`python -m facegraft_watcher`: the same as `facegraft-watch`."""

import sys

from facegraft_watcher.cli import main

sys.exit(main())

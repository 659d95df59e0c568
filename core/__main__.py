"""`python -m facegraft` runs the command line."""

import sys

from facegraft.cli import main

sys.exit(main())

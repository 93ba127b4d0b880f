"""`python -m latentlens`: the command line, as the `latentlens` script runs it (latentlens.cli)."""

import sys

from latentlens.cli import main

sys.exit(main())

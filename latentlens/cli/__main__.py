"""`python -m latentlens.cli`: the command line, as the `latentlens` script runs it."""

import sys

from latentlens.cli import main

sys.exit(main())

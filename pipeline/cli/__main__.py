"""`python -m docexit.pipeline.cli`: the `docexit` command."""

import sys

from docexit.pipeline.cli import main

sys.exit(main())

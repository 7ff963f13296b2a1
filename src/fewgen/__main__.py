"""``python -m fewgen``: the command line, as ``accelerate launch -m fewgen`` and ``torchrun -m fewgen`` start it."""

import sys

from fewgen.cli import main

sys.exit(main())

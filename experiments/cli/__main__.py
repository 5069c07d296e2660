"""``python -m experiments.cli``: the same as the ``ampel`` console script."""

import sys

from experiments.cli import main

sys.exit(main())

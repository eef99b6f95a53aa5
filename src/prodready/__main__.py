"""``python -m prodready``: the same command as the ``prodready`` console script."""

import sys

from prodready.cli import main

sys.exit(main())

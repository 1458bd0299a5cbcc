"""``python -m udabench`` is the ``udabench`` command."""

import sys

from udabench.cli import main

sys.exit(main())

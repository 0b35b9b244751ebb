"""`python -m harness.cli`: the same as the `ext-harness` command."""

import sys

from ._main import main

sys.exit(main())

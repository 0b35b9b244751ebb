"""`ext-harness`: the command-line parser, its handlers and the text it renders.

The top layer: nothing in harness imports it.
"""

from ._main import main

__all__ = ["main"]

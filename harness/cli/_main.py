"""`ext-harness`: inspect a set of extensions, call one of their functions, list and run
their commands, print the host contract.

Exit codes: 0 success, 1 a problem with the extensions or the call (error
diagnostics, a call error), 2 wrong usage (argparse's own code, kept).
How `call` and `run` tell paths from names: `_args`; the subcommands: `_parser`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ._args import EXIT_USAGE, _Usage, looks_like_option
from ._parser import build_parser
from ._render import print_usage_error

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (argparse's --help/--version/usage exits included)."""
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(list(argv) if argv is not None else None)
        if extras:
            if args.command != "call" or any(looks_like_option(x) for x in extras):
                parser.error(f"unrecognized arguments: {' '.join(extras)}")
            args.positionals = [*args.positionals, *extras]  # positionals after an option
        code: int = args.handler(args)
        return code
    except SystemExit as e:  # argparse: --help, --version, usage errors (2)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else EXIT_USAGE)
    except _Usage as e:
        return print_usage_error(args.command, str(e))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

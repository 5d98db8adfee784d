"""Entry point of the ``distroless`` command.

A repeated Dockerfile build that changed nothing is answered by :mod:`.fastpath`, which
loads neither click nor the builder; everything else runs :func:`distroless.cli.app.run`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; the exit code of the command (see ``distroless --help``)."""
    if argv is None and os.geteuid() != 0:  # a user's own command, not a caller in-process
        from distroless.runtime.userns import enter

        enter()  # a user who is not root: re-run in a user namespace of its own
    from distroless.cli.fastpath import try_warm_build

    code = try_warm_build(list(argv) if argv is not None else sys.argv[1:])
    if code is not None:
        return code
    from distroless.cli.app import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())

"""``python3 -m distroless``: the CLI without a console script, as the tool's own image runs it."""

from distroless.cli.main import main

raise SystemExit(main())

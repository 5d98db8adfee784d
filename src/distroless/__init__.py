"""Build, run, check and ship distroless container images without a Docker daemon."""

import sys
import types

__version__ = "0.1.0"

# httpx imports its own command-line client whenever click, rich and pygments are installed
# (they are, for our CLI), and with it pygments' lexers and rich's syntax highlighting: a
# third of the time every registry or archive command spends importing.  We never run that
# client; an empty module in its place makes httpx skip it (its import then fails, which
# httpx expects when those packages are missing).  Every ``import httpx`` of ours comes
# after this, since each is in a submodule of this package.
sys.modules.setdefault("httpx._main", types.ModuleType("httpx._main"))

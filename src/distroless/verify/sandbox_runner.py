"""Command tests in the runc sandbox: setup, command and teardown in one container.

container-structure-test runs a test's setup commands, the command and its teardown in
the same container, so what setup writes is visible to the command.  One sandbox (one
overlay root file system) is prepared per test and each argv runs in it in turn; the
image's entrypoint is replaced by the argv itself, since a distroless image has no shell.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from distroless.oci.models import Platform
from distroless.reporter import NullReporter, Reporter
from distroless.verify.structure import CommandOutput

if TYPE_CHECKING:
    from distroless.store import Store

MAX_OUTPUT = 16 << 20


class SandboxCommandRunner:
    """A :class:`~distroless.verify.structure.CommandRunner` over the store's image ``name``."""

    def __init__(
        self,
        store: Store,
        name: str,
        *,
        runtime: str = "runc",
        platform: Platform | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.store = store
        self.name = name
        self.platform = platform
        self.runtime_name = runtime
        self.reporter: Reporter = reporter or NullReporter()

    def run(
        self, commands: Sequence[Sequence[str]], env: Mapping[str, str], user: str | None = None
    ) -> list[CommandOutput]:
        from distroless.runtime.container import sandbox
        from distroless.runtime.options import RunOptions
        from distroless.runtime.rootfs import LayerCache
        from distroless.runtime.runc import Runtime

        image = self.store.load_image(self.name, self.platform)
        runtime = Runtime.find(self.runtime_name)
        cache = LayerCache(self.store.state_dir("layers"))
        lowers = cache.ensure_all([d.digest for d in image.layers], self.store, self.reporter)
        options = RunOptions(
            entrypoint=tuple(commands[0]), env=dict(env), user=user, network="none", remove=True
        )
        outputs: list[CommandOutput] = []
        with sandbox(
            lowers,
            image.config.config,
            options,
            self.store.state_dir("containers"),
            runtime,
            what=f"image {self.name}",
        ) as box:
            for argv in commands:
                box.spec["process"]["args"] = list(argv)
                (box.state / "config.json").write_text(json.dumps(box.spec, indent=1))
                with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
                    code = box.run(subprocess.DEVNULL, out, err)
                    out.seek(0)
                    err.seek(0)
                    outputs.append(
                        CommandOutput(
                            out.read(MAX_OUTPUT).decode("utf-8", "replace"),
                            err.read(MAX_OUTPUT).decode("utf-8", "replace"),
                            code,
                        )
                    )
        return outputs

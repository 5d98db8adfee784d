"""What a RUN step's ``--mount`` flags become: host directories, secrets, cache-key inputs.

``type=cache`` is a directory of the store kept between builds (outside the image and the
cache key); ``type=bind`` a context path, or with ``from=`` a path of another stage or image
(:mod:`.stage_mounts`), read-only unless ``rw``; ``type=tmpfs`` an empty
scratch directory; ``type=secret`` a ``--secret`` value, handed to the runtime in memory
when the step runs; ``type=ssh`` the agent socket ``build --ssh ID=SOCKET`` forwards,
bind-mounted at the target for that step alone: without one an optional mount is left
out, as BuildKit leaves it out when the client forwards no agent, and ``SSH_AUTH_SOCK``
names where it would be.  None of them ends up in the layer.  Bind sources are part of
the cache key (a stage's by its result digest); secret values and agents are not (only
their id and target, and for a secret whether one was given), as with BuildKit.

The parser has checked what it could (:mod:`.mountspec`); what depends on the stage (the
``WORKDIR`` a relative target joins, ``$VAR`` values) is checked here: each flag is read
again with its values expanded in the stage's variables, as BuildKit reads it.
"""

from __future__ import annotations

import hashlib
import posixpath
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from distroless.dockerfile.ast import Run
from distroless.dockerfile.context import Match, remove_copy
from distroless.dockerfile.mountspec import (
    BindMount,
    CacheMount,
    Mount,
    SecretMount,
    SshMount,
    TmpfsMount,
    check_secret_env,
    parse_mount,
    secret_numbers,
)
from distroless.dockerfile.secrets import BuildSecret
from distroless.dockerfile.stage import StageState
from distroless.dockerfile.workspace import SourceFile, Workspace
from distroless.errors import BuildError, DockerfileError
from distroless.runtime.options import Mount as HostMount
from distroless.runtime.options import SecretFile

#: ``from=`` to the state it names: (reference, the step's state, FILE:LINE) -> state
FromStage = Callable[[str, StageState, str], StageState]


@dataclass(frozen=True)
class SecretUse:
    """A secret mount resolved against ``--secret``: the value, and where it goes."""

    secret: BuildSecret
    target: str | None
    env: str | None
    mode: int
    uid: int
    gid: int


@dataclass(frozen=True)
class StepMounts:
    """The mounts of one step: host paths, the secrets to provide, the cache-key inputs,
    and the variables the mounts give the step (``SSH_AUTH_SOCK``)."""

    mounts: tuple[HostMount, ...]
    secrets: tuple[SecretUse, ...]
    inputs: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


def step_mounts(
    ins: Run,
    state: StageState,
    *,
    source: SourceFile,
    space: Workspace,
    secrets: Mapping[str, BuildSecret],
    from_stage: FromStage | None = None,
    ssh: Mapping[str, Path] | None = None,
) -> StepMounts:
    """Resolve ``ins``'s mounts for ``state``; temporary views live until the build ends.

    ``from_stage`` finds what ``from=`` names (a built stage, an image), as COPY's does;
    ``ssh`` holds the agent sockets ``--ssh`` forwards, by id.
    """
    where = source.where(ins)
    out: list[HostMount] = []
    inputs: list[str] = []
    uses: list[SecretUse] = []
    ssh_targets: list[str] = []

    variables = state.expansion_env()

    def target_of(target: str) -> str:
        return posixpath.normpath(posixpath.join(state.config.working_dir or "/", target))

    def expanded(spec: str) -> Mount:
        try:
            return parse_mount(spec, expand=lambda value: source.expand(value, variables, ins))
        except DockerfileError as exc:
            raise BuildError(f"{where}: {exc.message}") from None

    for mount in (expanded(spec) for spec in ins.flag_values("mount")):
        if isinstance(mount, SecretMount):
            use = _secret_use(mount, secrets, where, target_of)
            if use is not None:
                uses.append(use)
                inputs.append(f"mount=secret:{use.secret.id}:{use.target}:{use.env}")
                inputs.append(f"mode={use.mode:o}:{use.uid}:{use.gid}")
            else:
                inputs.append(f"mount=secret:{mount.id}:absent")
        elif isinstance(mount, CacheMount):
            target = target_of(mount.target)
            ident = mount.id or target
            digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
            cache_dir = space.store.state_dir("build-mounts", "cache", digest)
            out.append(HostMount(cache_dir, target, mount.readonly))
            inputs.append(f"mount=cache:{target}")
        elif isinstance(mount, TmpfsMount):
            target = target_of(mount.target)
            out.append(HostMount(space.temp_dir(), target, False))
            inputs.append(f"mount=tmpfs:{target}")
        elif isinstance(mount, BindMount):
            target = target_of(mount.target)
            if mount.source_stage is not None:
                if from_stage is None:
                    raise BuildError(f"{where}: RUN --mount=type=bind,from=... is not supported")
                from distroless.dockerfile.stage_mounts import stage_view

                origin = from_stage(mount.source_stage, state, where)
                view = stage_view(space, origin, mount.source, mount.readwrite, where)
                out.append(HostMount(view, target, not mount.readwrite))
                inputs.append(f"mount=bind:{target}:from:{origin.digest()}:{mount.source}")
                continue
            found = space.context.match(mount.source, where)
            if not found:
                raise BuildError(f"{where}: no file in the build context matches {mount.source!r}")
            match = found[0]
            view = _bind_view(space, match, mount.readwrite)
            out.append(HostMount(view, target, not mount.readwrite))
            inputs.append(f"mount=bind:{target}:{space.context.digest([match])}")
        elif isinstance(mount, SshMount):
            agent = mount.id
            socket = (ssh or {}).get(agent)
            if socket is None and mount.required:
                raise BuildError(
                    f"{where}: RUN --mount=type=ssh,required needs the SSH agent {agent!r}, "
                    f"but none is forwarded; give `--ssh {agent}=SOCKET` (or `--ssh default`) "
                    "or drop required to run the step without it"
                )
            default = f"/run/buildkit/ssh_agent.{len(ssh_targets)}"
            target = target_of(mount.target) if mount.target else default
            ssh_targets.append(target)
            if socket is not None:
                out.append(HostMount(socket, target, False))
            # the same key with an agent or without: which agent is no input of the step
            inputs.append(f"mount=ssh:{agent}:{target}:absent")
        else:
            raise BuildError(f"{where}: RUN --mount=type={mount.type} is not supported")
    env: tuple[tuple[str, str], ...] = ()
    if ssh_targets and "SSH_AUTH_SOCK" not in variables:
        env = (("SSH_AUTH_SOCK", ssh_targets[0]),)  # where BuildKit points it, agent or not
    return StepMounts(tuple(out), tuple(uses), tuple(inputs), env)


def _bind_view(space: Workspace, match: Match, rw: bool) -> Path:
    """What a ``type=bind`` mount of a context path shows: the path as the build sees it.

    The source is already resolved inside the context.  A directory in which
    .dockerignore hides something is mounted as a filtered copy (hard links, built
    only then); writes (``rw``) go to a throwaway copy, never to the user's context.
    """
    if not rw and not space.context.hides_below(match):
        return match.disk
    view = space.temp_dir() / "bind"
    if match.disk.is_dir():
        space.stack.callback(remove_copy, view)
        space.context.filtered_copy(match, view, link=not rw)
    else:
        shutil.copy2(match.disk, view, follow_symlinks=False)
    return view


def _secret_use(
    mount: SecretMount,
    secrets: Mapping[str, BuildSecret],
    where: str,
    target_of: Callable[[str], str],
) -> SecretUse | None:
    """Check a secret mount against the stage; None when an optional secret was not given."""
    secret_id = mount.secret_id
    secret = secrets.get(secret_id)
    if secret is None:
        if mount.required:
            raise BuildError(
                f"{where}: the secret {secret_id!r} is required but was not given "
                f"(pass --secret id={secret_id},src=FILE)"
            )
        return None
    target = mount.target
    if target is None and mount.env is None:
        target = f"/run/secrets/{secret_id}"
    if target is not None:
        target = target_of(target)
        if target == "/":
            raise BuildError(f"{where}: a secret cannot be mounted over /")
    try:
        if mount.env is not None:
            check_secret_env(mount.env)
        mode, uid, gid = secret_numbers(mount)
    except ValueError as exc:
        raise BuildError(f"{where}: {exc}") from None
    return SecretUse(secret, target, mount.env, mode, uid, gid)


def provide_secrets(uses: tuple[SecretUse, ...]) -> tuple[tuple[SecretFile, ...], dict[str, str]]:
    """Files and variables for one RUN.  The runtime hands them to the container
    through a tmpfs only the container's runtime sees; nothing is written here."""
    files: list[SecretFile] = []
    env: dict[str, str] = {}
    for use in uses:
        if use.env is not None:
            try:
                env[use.env] = use.secret.value.decode()
            except UnicodeDecodeError:
                raise BuildError(
                    f"the secret {use.secret.id!r} is not UTF-8 text and cannot be "
                    f"exposed as the variable {use.env}"
                ) from None
        if use.target is not None:
            files.append(SecretFile(use.target, use.secret.value, use.mode, use.uid, use.gid))
    return tuple(files), env

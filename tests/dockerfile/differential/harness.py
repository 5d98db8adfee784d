"""The differential harness: one case directory, built by docker and by us, then compared.

A case is a directory under ``cases/``: a ``Dockerfile``, the files of its build context and
an optional ``case.yaml`` (see :class:`Case`).  Both builders start from the same base images
(:func:`busybox_rootfs`, imported into the test engine, saved and loaded into our store), so
any difference in the saved images is the build's.  Each case gets its own copy of the
context and its own store, so cases run in parallel and an error case can check that the
store it failed in is exactly as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.helpers.cli import distroless_executable
from tests.helpers.docker import DockerEngine
from tests.helpers.flatten import Node, SavedImage, read_saved

CASES = Path(__file__).parent / "cases"
BASES = Path(__file__).parent / "bases"
HTTP_FILES = Path(__file__).parent / "http"
README = Path(__file__).parent / "README.md"
BUSYBOX_REF = "difftest/busybox:latest"
MANY_LAYERS_REF = "difftest/many-layers:latest"
MANY_LAYERS = 100
BUILD_TIMEOUT = 300.0
DOCKER_RETRIES = 2
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The applets the cases use, each a symlink to /bin/busybox.
APPLETS = (
    *("[", "awk", "basename", "cat", "chmod", "chown", "cp", "cut", "date", "dirname", "echo"),
    *("env", "expr", "false", "find", "grep", "head", "hostname", "id", "ln", "ls", "mkdir"),
    *("mkfifo",),
    *("mv", "printf", "pwd", "readlink", "rm", "rmdir", "sed", "sh", "sha256sum", "sleep"),
    *("sort", "stat", "tail", "tar", "tee", "test", "touch", "tr", "true", "uname", "wc"),
    *("whoami", "xargs"),
)
PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "app:x:1000:1000:app:/home/app:/bin/sh\n"
    "svc:x:1001:2000:svc:/nonexistent:/bin/false\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\napp:x:1000:\nstaff:x:2000:svc\nnobody:x:65534:\n"

# The config fields compared, as docker spells them in the image config.
CONFIG_FIELDS = (
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
    "Shell",
)
_CASE_KEYS = frozenset(
    {
        "notes",
        "build_args",
        "allow",
        "target",
        "dockerfile",
        "reference",
        "reference_config",
        "error",
        "xfail",
        "differs",
        "setup",
        "http",
    }
)
_SETUP_KEYS = frozenset({"chmod", "dirs", "symlinks"})
_HARNESS_FILES = frozenset({"case.yaml"})


# Where the test module leaves (cases built, seconds) for the terminal summary (conftest.py).
BUILD_TIME = pytest.StashKey[tuple[int, float]]()


class CaseError(ValueError):
    """A case directory or its case.yaml is malformed."""


@dataclass(frozen=True)
class Case:
    """One differential case, read from its directory.

    ``case.yaml`` keys (all optional):

    - ``build_args`` (mapping), ``target`` (stage), ``dockerfile`` (path in the case, default
      ``Dockerfile``): passed to both builders; ``allow`` (entitlements such as
      ``network.host``) to ours, as ``--allow`` (docker's engine grants them itself);
    - ``error: {line: N}``: docker refuses the Dockerfile; we must fail too, naming line N;
    - ``reference``: a Dockerfile in the case directory that docker builds *instead*, because
      the test engine's BuildKit predates a feature; it must give the image current BuildKit
      documents for the real Dockerfile (``notes`` says which feature and where documented);
      ``reference_config`` then sets config fields the old engine cannot write at all;
    - ``xfail``: one line naming how our build differs today (listed in README.md), with
      ``differs``: fragments of the report that show that difference (all must appear);
    - ``http: true``: the build arg ``HTTP_BASE`` names a server on 127.0.0.1 serving the
      files under ``http/`` (for ``ADD URL``);
    - ``setup``: what git cannot store: ``chmod`` (path: octal string), ``dirs`` (empty
      directories), ``symlinks`` (path: target);
    - ``notes``: why the case exists, what docker does, engine-version remarks.
    """

    name: str
    path: Path
    dockerfile: str = "Dockerfile"
    build_args: Mapping[str, str] = field(default_factory=dict)
    allow: tuple[str, ...] = ()
    target: str | None = None
    error_line: int | None = None
    reference: str | None = None
    reference_config: Mapping[str, Any] = field(default_factory=dict)
    xfail: str | None = None
    differs: tuple[str, ...] = ()
    notes: str = ""
    setup: Mapping[str, Any] = field(default_factory=dict)
    http: bool = False

    @property
    def tag(self) -> str:
        return f"difftest-case/{self.name.replace('_', '-')}:latest"

    @classmethod
    def load(cls, path: Path) -> Case:
        spec_file = path / "case.yaml"
        spec: dict[str, Any] = {}
        if spec_file.exists():
            loaded = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
            if not isinstance(loaded, dict):
                raise CaseError(f"{spec_file}: expected a mapping")
            spec = loaded
        unknown = set(spec) - _CASE_KEYS
        if unknown:
            raise CaseError(f"{spec_file}: unknown keys {sorted(unknown)}")
        setup = spec.get("setup") or {}
        if set(setup) - _SETUP_KEYS:
            raise CaseError(f"{spec_file}: unknown setup keys {sorted(set(setup) - _SETUP_KEYS)}")
        error = spec.get("error")
        if error is not None and (not isinstance(error, dict) or set(error) != {"line"}):
            raise CaseError(f"{spec_file}: error must be {{line: N}}")
        xfail = spec.get("xfail")
        if xfail is not None and (not isinstance(xfail, str) or "\n" in xfail.strip()):
            raise CaseError(f"{spec_file}: xfail must be a one-line reason")
        differs = spec.get("differs") or []
        if bool(xfail) != bool(differs) or not all(isinstance(d, str) and d for d in differs):
            raise CaseError(f"{spec_file}: xfail needs differs (text the report must hold)")
        if spec.get("reference_config") and not spec.get("reference"):
            raise CaseError(f"{spec_file}: reference_config needs a reference Dockerfile")
        case = cls(
            name=path.name,
            path=path,
            dockerfile=str(spec.get("dockerfile", "Dockerfile")),
            build_args={str(k): str(v) for k, v in (spec.get("build_args") or {}).items()},
            allow=tuple(str(a) for a in spec.get("allow") or ()),
            target=spec.get("target"),
            error_line=None if error is None else int(error["line"]),
            reference=spec.get("reference"),
            reference_config=spec.get("reference_config") or {},
            xfail=xfail.strip() if xfail else None,
            differs=tuple(differs),
            notes=str(spec.get("notes", "")),
            setup=setup,
            http=bool(spec.get("http", False)),
        )
        for name in (case.dockerfile, case.reference):
            if name is not None and not (path / name).is_file():
                raise CaseError(f"{path.name}: {name} is missing")
        return case

    def harness_files(self) -> set[str]:
        return set(_HARNESS_FILES) | ({self.reference} if self.reference else set())


def all_cases() -> list[Case]:
    return [Case.load(p) for p in sorted(CASES.iterdir()) if p.is_dir()]


def prepare_context(case: Case, dest: Path) -> Path:
    """Copy the case's context to ``dest`` and apply its ``setup``; returns ``dest``."""
    skip = case.harness_files()
    shutil.copytree(
        case.path,
        dest,
        symlinks=True,
        ignore=lambda d, names: [n for n in names if Path(d) == case.path and n in skip],
    )
    for rel in case.setup.get("dirs", []):
        (dest / rel).mkdir(parents=True, exist_ok=True)
    for rel, target in (case.setup.get("symlinks") or {}).items():
        link = dest / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
    for rel, mode in (case.setup.get("chmod") or {}).items():
        os.chmod(dest / rel, int(str(mode), 8), follow_symlinks=False)
    return dest


# --- base images -----------------------------------------------------------------------------


def _add(tar: tarfile.TarFile, name: str, kind: bytes, mode: int, **extra: Any) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, 0
    data: bytes | Path | None = extra.pop("data", None)
    for key, value in extra.items():
        setattr(info, key, value)
    if isinstance(data, Path):
        info.size = data.stat().st_size
        with data.open("rb") as fh:
            tar.addfile(info, fh)
    elif data is not None:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def busybox_rootfs(out: Path, busybox: Path) -> Path:
    """A small root filesystem: a static busybox with the usual directories and users.

    /dev, /proc, /sys and empty /etc/hosts and /etc/resolv.conf exist so that RUN steps leave
    no mount points in their layers: the test engine's BuildKit sometimes fails to remove the
    /etc stubs when the machine is busy (case run_base_without_dev tests a bare root).
    """
    dirs = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "opt": 0o755}
    dirs |= {"proc": 0o555, "root": 0o700, "sys": 0o555, "tmp": 0o1777, "usr": 0o755}
    dirs |= {"usr/bin": 0o755, "usr/local": 0o755, "usr/local/bin": 0o755, "var": 0o755}
    dirs |= {"mnt": 0o755, "var/cache": 0o755}
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode in sorted(dirs.items()):
            _add(tar, name, tarfile.DIRTYPE, mode)
        _add(tar, "bin/busybox", tarfile.REGTYPE, 0o755, data=busybox)
        for applet in APPLETS:
            _add(tar, f"bin/{applet}", tarfile.SYMTYPE, 0o777, linkname="busybox")
        _add(tar, "etc/passwd", tarfile.REGTYPE, 0o644, data=PASSWD.encode())
        _add(tar, "etc/group", tarfile.REGTYPE, 0o644, data=GROUP.encode())
        for name in ("etc/hosts", "etc/resolv.conf"):
            _add(tar, name, tarfile.REGTYPE, 0o644, data=b"")
        _add(tar, "home/app", tarfile.DIRTYPE, 0o750, uid=1000, gid=1000)
        _add(tar, "opt/private", tarfile.DIRTYPE, 0o700, uid=1000, gid=1000)
    return out


def layered_archive(out: Path, rootfs: Path, ref: str, layers: int) -> Path:
    """A docker-archive of ``ref``: ``rootfs`` as the first layer, then ``layers - 1`` tiny
    layers each adding /layers/NNN, for builds on bases deeper than one overlay mount allows.
    """
    blobs = [rootfs]
    for n in range(1, layers):
        blob = out.parent / f"{out.name}.layer{n}.tar"
        with tarfile.open(blob, "w", format=tarfile.PAX_FORMAT) as tar:
            if n == 1:
                _add(tar, "layers", tarfile.DIRTYPE, 0o755)
            _add(tar, f"layers/{n:03d}", tarfile.REGTYPE, 0o644, data=f"{n}\n".encode())
        blobs.append(blob)
    diff_ids = []
    for blob in blobs:
        digest = hashlib.sha256()
        with blob.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        diff_ids.append("sha256:" + digest.hexdigest())
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": [PATH_ENV]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    names = [f"{d.split(':')[1]}/layer.tar" for d in diff_ids]
    manifest = [{"Config": "config.json", "RepoTags": [ref], "Layers": names}]
    with tarfile.open(out, "w") as tar:
        _add(tar, "config.json", tarfile.REGTYPE, 0o644, data=json.dumps(config).encode())
        _add(tar, "manifest.json", tarfile.REGTYPE, 0o644, data=json.dumps(manifest).encode())
        for name, blob in zip(names, blobs, strict=True):
            _add(tar, name, tarfile.REGTYPE, 0o644, data=blob)
    return out


def docker_env(engine: DockerEngine) -> dict[str, str]:
    return {**os.environ, **engine.env, "DOCKER_BUILDKIT": "1"}


def _run(argv: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def distroless(store: Path, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    """``distroless --root STORE ARGS`` as a child process (the real CLI, exit code included)."""
    argv = [str(distroless_executable()), "--root", str(store), *(os.fspath(a) for a in args)]
    return _run(argv, os.environ)


def docker(engine: DockerEngine, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    return _run([str(engine.cli), *(os.fspath(a) for a in args)], docker_env(engine))


class EngineTurns:
    """Builds share the engine; a save, or a build retried after a disagreement, waits until
    no build runs and keeps them out.

    Engine 20.10 fails a save with "open .../overlay2/.../merged/...: no such file or
    directory" when another build mounts and unmounts layers meanwhile, and retrying does not
    help while builds keep starting; saves of deep images (100 layers) hit it every time. With
    several builds at once it also now and then drops one step's change from an image (seen in
    CI twice: a WORKDIR's mkdir), so the build that settles a disagreement runs alone. The
    lone turn is re-entrant: the save inside that build runs in the same turn.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._builds = 0
        self._alone: int | None = None  # the thread holding the lone turn

    def _free_of_others(self) -> bool:
        return self._alone in (None, threading.get_ident())

    @contextlib.contextmanager
    def build(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(self._free_of_others)
            self._builds += 1
        try:
            yield
        finally:
            with self._cond:
                self._builds -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        me = threading.get_ident()
        if self._alone == me:
            yield
            return
        with self._cond:
            self._cond.wait_for(lambda: self._alone is None and self._builds == 0)
            self._alone = me
        try:
            yield
        finally:
            with self._cond:
                self._alone = None
                self._cond.notify_all()


def docker_save(
    engine: DockerEngine, ref: str, archive: Path, turns: EngineTurns, attempts: int = 3
) -> None:
    """``docker save`` on its own turn, tried again should the engine still trip."""
    for attempt in range(attempts):
        with turns.alone():
            saved = docker(engine, "save", "-o", archive, ref)
        if saved.returncode == 0:
            return
        if "no such file or directory" not in saved.stderr or attempt == attempts - 1:
            checked(saved, f"docker save {ref}")


def checked(proc: subprocess.CompletedProcess[str], what: str) -> str:
    if proc.returncode != 0:
        raise AssertionError(f"{what} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


# --- building one case -----------------------------------------------------------------------


@dataclass
class Outcome:
    """What one builder did with a case: the saved image, or how it failed."""

    ok: bool
    output: str = ""  # stderr (ours) or the build log's tail (docker)
    exit_code: int = 0
    image: SavedImage | None = None
    store_before: list[str] = field(default_factory=list)
    store_after: list[str] = field(default_factory=list)


def _build_flags(case: Case) -> list[str]:
    flags: list[str] = []
    for key, value in case.build_args.items():
        flags += ["--build-arg", f"{key}={value}"]
    if case.target:
        flags += ["--target", case.target]
    return flags


def build_with_docker(
    engine: DockerEngine, case: Case, work: Path, turns: EngineTurns, *, no_cache: bool = False
) -> Outcome:
    """``docker build`` (BuildKit) of the case, or of its reference Dockerfile, then save."""
    context = prepare_context(case, work / "docker-context")
    dockerfile = case.path / case.reference if case.reference else context / case.dockerfile
    argv = ["build", "--progress=plain", "--network=host", "-f", str(dockerfile), "-t", case.tag]
    argv += ["--no-cache"] if no_cache else []
    argv += [*_build_flags(case), str(context)]
    with turns.build():
        built = docker(engine, *argv)
    # Engine 20.10 now and then fails a sound build when several run at once ("Error
    # processing tar file", a RUN exiting 1); a case that should build gets more tries.
    for _ in range(DOCKER_RETRIES):
        if built.returncode == 0 or case.error_line is not None:
            break
        with turns.build():
            built = docker(engine, *argv)
    if built.returncode != 0:
        return Outcome(ok=False, output=built.stderr[-3000:], exit_code=built.returncode)
    archive = work / "docker.tar"
    docker_save(engine, case.tag, archive, turns)
    image = read_saved(archive, case.tag)
    if case.reference_config:
        config = dict(image.config)
        config["config"] = {**(config.get("config") or {}), **case.reference_config}
        image = SavedImage(config=config, files=image.files, layer_count=image.layer_count)
    return Outcome(ok=True, image=image)


def store_listing(store: Path) -> list[str]:
    """Every path in the store with its type and size: what an error must leave unchanged."""
    listing = []
    for path in sorted(store.rglob("*")):
        st = path.lstat()
        kind = "d" if path.is_dir() and not path.is_symlink() else "f"
        size = st.st_size if kind == "f" else 0
        listing.append(f"{kind} {path.relative_to(store)} {size}")
    return listing


def build_with_distroless(template: Path, case: Case, work: Path) -> Outcome:
    """``distroless build`` of the case in a private copy of the template store, then save."""
    context = prepare_context(case, work / "our-context")
    store = work / "store"
    # cp -a: the template's unpacked layer cache must keep its owners and overlay xattrs
    # (copytree would give every directory of the warm-up's base to root).
    subprocess.run(["cp", "-a", "--reflink=auto", template, store], check=True)
    before = store_listing(store)
    built = distroless(
        store,
        "build",
        "-q",
        "-f",
        context / case.dockerfile,
        "-t",
        case.tag,
        *_build_flags(case),
        *(f"--allow={a}" for a in case.allow),
        context,
    )
    if built.returncode != 0:
        return Outcome(
            ok=False,
            output=built.stderr,
            exit_code=built.returncode,
            store_before=before,
            store_after=store_listing(store),
        )
    archive = work / "ours.tar"
    checked(distroless(store, "save", case.tag, "-o", archive), f"distroless save {case.tag}")
    return Outcome(ok=True, image=read_saved(archive, case.tag))


# --- comparing -------------------------------------------------------------------------------


def _normal(name: str, value: Any) -> Any:
    """Values that mean the same to a runtime compare equal: absent, null, "" and {}.

    ``Cmd`` and ``Entrypoint`` keep ``[]`` apart from null (``CMD []`` is written on
    purpose); ``OnBuild`` and ``Shell`` do not.  A health check's zero durations are absent.
    """
    if value in (None, "", {}):
        return None
    if value == [] and name not in ("Cmd", "Entrypoint"):
        return None
    if name == "Healthcheck" and isinstance(value, dict):
        return {k: v for k, v in value.items() if v not in (0, None, [], "")} or None
    if name in ("ExposedPorts", "Volumes") and isinstance(value, dict):
        return sorted(value)
    return value


def compare_config(docker_cfg: Mapping[str, Any], our_cfg: Mapping[str, Any]) -> list[str]:
    theirs = docker_cfg.get("config") or {}
    mine = our_cfg.get("config") or {}
    lines = []
    for name in CONFIG_FIELDS:
        a, b = _normal(name, theirs.get(name)), _normal(name, mine.get(name))
        if a != b:
            lines.append(f"config {name}: docker {a!r}, ours {b!r}")
    return lines


def compare_files(docker_fs: Mapping[str, Node], our_fs: Mapping[str, Node]) -> list[str]:
    lines = []
    for path in sorted(set(docker_fs) | set(our_fs)):
        a, b = docker_fs.get(path), our_fs.get(path)
        shown = f"/{path}" if path.isprintable() else repr(f"/{path}")
        if a is None and b is not None:
            lines.append(f"{shown}: only ours ({b.describe()})")
        elif b is None and a is not None:
            lines.append(f"{shown}: only docker ({a.describe()})")
        elif a is not None and b is not None and _key(a) != _key(b):
            lines.append(f"{shown}: docker {a.describe()}, ours {b.describe()}")
    return lines


def _key(node: Node) -> tuple[object, ...]:
    # An implicit parent (0755 root, made by the unpacker) equals the same directory written.
    return (node.type, node.mode, node.uid, node.gid, node.digest, node.link)


def compare(docker_image: SavedImage, our_image: SavedImage) -> list[str]:
    return compare_config(docker_image.config, our_image.config) + compare_files(
        docker_image.files, our_image.files
    )


_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s+File \".*\", line \d+", re.M)


def error_problems(case: Case, ours: Outcome) -> list[str]:
    """How our failure falls short of: non-zero exit, one line naming FILE:LINE, no traceback,
    the store as it was."""
    assert case.error_line is not None
    problems = []
    if ours.ok:
        return ["our build succeeded where docker refuses the Dockerfile"]
    lines = [line for line in ours.output.splitlines() if line.strip()]
    if _TRACEBACK.search(ours.output):
        problems.append("a traceback was printed")
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines of error output, not one")
    located = re.search(rf"{re.escape(case.dockerfile)}:(\d+)(?::\d+)?\b", ours.output)
    if located is None:
        problems.append(f"no {case.dockerfile}:LINE in the message")
    elif int(located.group(1)) != case.error_line:
        problems.append(f"names line {located.group(1)}, not {case.error_line}")
    if ours.store_before != ours.store_after:
        changed = sorted(set(ours.store_before) ^ set(ours.store_after))[:5]
        problems.append(f"the store changed: {changed}")
    if problems:
        problems.append(f"message: {ours.output.strip()[:500]!r}")
    return problems


def docker_error_line(output: str) -> int | None:
    """The line an old engine names in its error (``dockerfile parse error line N``), if any."""
    found = re.search(r"(?:error line|Dockerfile:)\s*(\d+)", output)
    return int(found.group(1)) if found else None

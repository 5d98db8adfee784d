"""Adding to a distroless base, against the real archive, PyPI, runc and the Docker engine.

``base: distroless/python3`` + ``packages: [python3-humanize]`` is checked against apt
itself: Debian 13's ``apt-get install -s --no-install-recommends`` runs (with
``distroless run``) in an image made from Debian 13's apt packages, over a status file that
declares the base's packages and the management packages installed, so what apt would
add is exactly what the base lacks, minus those.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from distroless.debian.deb822 import Paragraph, parse_paragraphs
from distroless.debian.management import DEFAULT_MANAGEMENT
from distroless.debian.provider import PackageSource
from distroless.debian.sources import distro, suite_sources
from distroless.oci.models import Platform
from distroless.store import Store
from tests.helpers import (
    Cli,
    DockerEngine,
    Registry,
    free_port,
    require_root,
    require_tool,
    wait_until,
)
from tests.helpers.safety import SafetyLedger

pytestmark = [pytest.mark.integration, pytest.mark.network]

PYTHON3 = "distroless/python3:latest"
SITE = "/usr/local/lib/python3.13/dist-packages"
AMD64 = Platform("linux", "amd64")


def _env(package_cache: Path) -> dict[str, str | None]:
    return {"DISTROLESS_CACHE": str(package_cache)}


@pytest.fixture(scope="module")
def bases_root(tmp_path_factory: pytest.TempPathFactory, package_cache: Path) -> Path:
    """A store holding distroless/python3 for amd64 and arm64, built from its recipe."""
    root = tmp_path_factory.mktemp("adding") / "store"
    Cli(root)("bases", "build", "python3:latest", "--arch", "amd64,arm64",
              env=_env(package_cache)).check()  # fmt: skip
    return root


def _tree(path: Path) -> dict[str, int]:
    """Every file under ``path`` with its size: the test's picture of a store or cache."""
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): p.lstat().st_size for p in path.rglob("*")}


# --- Debian packages the base lacks -----------------------------------------------------------


def _status_paragraph(paragraph: Paragraph) -> str:
    """What apt needs of an installed package to count it as satisfying dependencies."""
    keep = ("Package", "Version", "Architecture", "Provides", "Multi-Arch", "Essential")
    lines = [f"{k}: {paragraph[k]}" for k in keep if paragraph.get(k)]
    lines.insert(1, "Status: install ok installed")
    return "\n".join(lines)


def _apt_oracle(
    tmp_path: Path, package_cache: Path, base_status: list[Paragraph], request: str
) -> set[str]:
    """The packages Debian 13's apt adds for ``request`` onto ``base_status``.

    The base's packages and the management packages are declared installed (their own
    dependencies dropped: the base is exact, not a closure); the repository holds every
    other package of the archive's trixie suites, so apt can neither reinstall nor
    upgrade what is declared.
    """
    oracle = tmp_path / "oracle"
    oracle.mkdir()
    cli = Cli(oracle / "store")  # its own store: the oracle image holds apt and dpkg
    (oracle / "image.yaml").write_text(
        "packages: [apt, dpkg]\narchs: [amd64]\nfiles:\n"
        "  - {dst: /tmp, type: directory, mode: 01777}\n"
        + "".join(f"  - {{dst: /{d}, symlink: usr/{d}}}\n" for d in ("bin", "lib", "lib64", "sbin"))
    )
    cli(
        "build", "--spec", oracle / "image.yaml", "-t", "apt-oracle", env=_env(package_cache)
    ).check()
    source = PackageSource(package_cache)
    try:
        indices = source.archive.indices(suite_sources(distro("debian13"), source.mirrors), "amd64")
    finally:
        source.close()
    held = {p["Package"]: p for p in base_status}
    management: dict[str, Paragraph] = {}
    repo = oracle / "repo"
    work = oracle / "work"
    (work / "lists" / "partial").mkdir(parents=True)
    repo.mkdir()
    with (repo / "Packages").open("w") as out:
        for index in indices:
            for paragraph in index.paragraphs():
                name = paragraph["Package"]
                if name in DEFAULT_MANAGEMENT and name not in held:
                    management.setdefault(name, paragraph)
                if name in held or name in DEFAULT_MANAGEMENT:
                    continue
                out.write("".join(f"{k}: {v}\n" for k, v in paragraph.items()) + "\n")
    installed = [*held.values(), *management.values()]
    (work / "status").write_text("\n\n".join(_status_paragraph(p) for p in installed) + "\n")
    (work / "sources.list").write_text("deb [trusted=yes] file:/repo ./\n")
    options = [
        "-o", "Dir::State::status=/work/status", "-o", "Dir::Etc::SourceList=/work/sources.list",
        "-o", "Dir::Etc::SourceParts=/nonexistent", "-o", "Dir::State::Lists=/work/lists",
        "-o", "Dir::Cache=/work/cache", "-o", "APT::Architecture=amd64",
        "-o", "APT::Sandbox::User=root", "-o", "Debug::NoLocking=true",
    ]  # fmt: skip
    mounts = ["-v", f"{work}:/work", "-v", f"{repo}:/repo:ro"]
    run = ["run", "--rm", "--network", "none", *mounts, "--entrypoint", "/usr/bin/apt-get"]
    cli.subprocess(*run, "apt-oracle", *options, "update").check()
    planned = cli.subprocess(
        *run, "apt-oracle", *options, "install", "-s", "--no-install-recommends", request
    ).check()
    assert re.search(r"^0 upgraded, \d+ newly installed, 0 to remove", planned.stdout, re.M)
    return set(re.findall(r"^Inst (\S+) ", planned.stdout, re.MULTILINE))


def _status_d(store: Store, name: str, platform: Platform = AMD64) -> list[Paragraph]:
    from distroless.assemble.base_packages import image_view
    from distroless.verify.packages import status_entries

    fs = image_view(store, store.load_image(name, platform))
    entries = status_entries(fs)
    data = fs.read_many(entries)
    return [parse_paragraphs(data[e].decode(), e)[0] for e in entries]


@pytest.mark.unsafe_images  # the apt oracle image holds apt and dpkg; the result is checked here
def test_python3_humanize_adds_only_what_the_base_lacks(
    bases_root: Path, tmp_path: Path, package_cache: Path, docker_engine: DockerEngine
) -> None:
    require_root()
    require_tool("runc")
    cli = Cli(bases_root)
    store = Store(bases_root)
    spec = tmp_path / "image.yaml"
    spec.write_text("base: distroless/python3\npackages: [python3-humanize]\narchs: [amd64]\n")
    built = cli.subprocess("build", "--spec", spec, "-t", "humanize:1", env=_env(package_cache))
    built.check()
    base_layers = len(store.load_image(PYTHON3, AMD64).layers)
    image = store.load_image("humanize:1", AMD64)
    added = [h.created_by for h in image.config.history[base_layers:]]
    added_names = {c.split()[1] for c in added}
    assert all(c.startswith("deb ") for c in added)
    assert len(image.layers) == base_layers + len(added)  # one layer per added package

    base_status = _status_d(store, PYTHON3)
    expected = _apt_oracle(tmp_path, package_cache, base_status, "python3-humanize")
    assert added_names == expected
    assert not added_names & {p["Package"] for p in base_status}
    assert not added_names & set(DEFAULT_MANAGEMENT)

    # each added package brings its status.d entry; python3-minimal says what it lacks
    status = {p["Package"]: p for p in _status_d(store, "humanize:1")}
    assert added_names <= set(status)
    assert status["python3-minimal"]["Distroless-Unsatisfied"].startswith("dpkg (>= ")

    # the SBOM records the relation left out
    sbom = json.loads(cli.subprocess("sbom", "humanize:1", "--fresh").check().stdout)
    minimal = next(p for p in sbom["packages"] if p["name"] == "python3-minimal")
    assert "Deliberately unsatisfied" in minimal["comment"] and "dpkg" in minimal["comment"]

    assert cli.subprocess("check", "humanize:1").check().stdout.splitlines()[0].endswith("passed")
    assert SafetyLedger().check_store(bases_root) == []

    code = "import humanize; print(humanize.naturalsize(123456789))"
    ran = cli.subprocess("run", "--rm", "--network", "none", "humanize:1", "-c", code).check()
    assert ran.stdout.strip() == "123.5 MB"
    archive = tmp_path / "humanize.tar"
    cli.subprocess("save", "humanize:1", "-o", archive).check()
    docker_engine.load(archive)
    in_docker = docker_engine.run_image(
        "humanize:1", "-c", "import humanize; print(humanize.intcomma(1234567))"
    )
    assert in_docker.stdout.strip() == "1,234,567"

    # size: the base plus the added .debs' Installed-Size, within 1 MB
    from distroless.assemble.base_packages import image_view

    installed = sum(int(status[n]["Installed-Size"]) for n in added_names) * 1024
    base_bytes = sum(b for _, b in image_view(store, store.load_image(PYTHON3, AMD64)).layer_stats)
    image_bytes = sum(b for _, b in image_view(store, image).layer_stats)
    assert abs((image_bytes - base_bytes) - installed) < 1_000_000, (image_bytes, base_bytes)


def test_bad_package_input_is_one_line_and_changes_nothing(
    bases_root: Path, tmp_path: Path, package_cache: Path
) -> None:
    cli = Cli(bases_root)
    cases = {
        # the base's libc6 is older than any libc6 (>= 99): a second copy is never added
        "conflict": ("packages: ['libc6 (>= 99)']", r"libc6 \(>= 99\).*the base has libc6 2\."),
        "unknown": ("packages: [no-such-package-zz]", r"no-such-package-zz"),
    }
    for name, (line, message) in cases.items():
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(f"base: distroless/python3\narchs: [amd64]\n{line}\n")
        before = _tree(bases_root), _tree(package_cache / "debs")
        result = cli.subprocess("build", "--spec", spec, "-t", f"{name}:1", env=_env(package_cache))
        assert result.exit_code != 0, name
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert re.search(message, lines[0]), lines[0]
        assert (_tree(bases_root), _tree(package_cache / "debs")) == before, name


# --- Python wheels --------------------------------------------------------------------------

FLASK_APP = """\
import sys
from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello from Flask on distroless\\n"


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]))
"""


def _flask_spec(directory: Path) -> Path:
    directory.mkdir(exist_ok=True)
    (directory / "app.py").write_text(FLASK_APP)
    (directory / "requirements.txt").write_text("flask==3.1.2\nmarkupsafe==3.0.3\n")
    spec = directory / "image.yaml"
    spec.write_text(
        "base: distroless/python3:nonroot\narchs: [amd64, arm64]\n"
        "python: {requirements: requirements.txt}\n"
        "files:\n  - {src: app.py, dst: /app/app.py}\n"
        'cmd: ["/app/app.py"]\nexpose: [8080]\n'
    )
    return spec


def _get(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return None


def test_a_flask_app_from_requirements(
    tmp_path: Path, package_cache: Path, bases_root: Path
) -> None:
    require_root()
    require_tool("runc")
    cli = Cli(bases_root)
    spec = _flask_spec(tmp_path / "app")

    # the lock pins every wheel per architecture, with its hash
    cli.subprocess("lock", spec, env=_env(package_cache)).check()
    lock = json.loads(spec.with_name("image.lock.json").read_text())
    wheels = {w["name"]: w for w in lock["python"]["arm64"]["wheels"]}
    assert wheels["MarkupSafe"]["version"] == "3.0.3"
    assert "aarch64" in wheels["MarkupSafe"]["filename"]
    assert re.fullmatch(r"[0-9a-f]{64}", wheels["MarkupSafe"]["sha256"])
    assert lock["python"]["amd64"]["python"] == "3.13"
    assert set(lock["base"]) == {"amd64", "arm64"}

    # two builds, one from the lock and one resolving afresh elsewhere: the same digest
    locked = cli.subprocess("build", "--spec", spec, "-t", "flask:1", env=_env(package_cache))
    free = cli.subprocess("build", "--spec", _flask_spec(tmp_path / "free"), "-t", "flask:2",
                          env=_env(package_cache))  # fmt: skip
    assert locked.check().stdout == free.check().stdout
    assert locked.stdout.startswith("Built sha256:")
    store = Store(bases_root)

    # arm64 holds aarch64 wheels (MarkupSafe's compiled speedups); amd64 x86_64 ones
    from distroless.assemble.base_packages import image_view

    for arch, machine in (("arm64", "aarch64"), ("amd64", "x86_64")):
        image = store.load_image("flask:1", Platform("linux", arch))
        layer = next(h.created_by for h in image.config.history if h.created_by.startswith("py"))
        assert "MarkupSafe 3.0.3" in layer and "Flask 3.1.2" in layer
        fs = image_view(store, image)
        speedups = [n.path for n in fs.nodes() if re.search(r"/_speedups\.[^/]*\.so$", n.path)]
        assert speedups == [f"{SITE}/markupsafe/_speedups.cpython-313-{machine}-linux-gnu.so"]
        record = fs.read_text(f"{SITE}/markupsafe-3.0.3.dist-info/RECORD")
        assert f"markupsafe/_speedups.cpython-313-{machine}-linux-gnu.so,sha256=" in record

    # the SBOM lists every wheel with its version
    sbom = cli.subprocess("sbom", "flask:1", "--platform", "linux/amd64").check().stdout
    purls = set(re.findall(r'"(pkg:pypi/[^"@]+@[^"]+)"', sbom))
    locked_wheels = {(w["name"].lower(), w["version"]) for w in lock["python"]["amd64"]["wheels"]}
    assert {tuple(p[len("pkg:pypi/") :].split("@")) for p in purls} == locked_wheels
    assert {
        ("flask", "3.1.2"),
        ("markupsafe", "3.0.3"),
        ("werkzeug", wheels["Werkzeug"]["version"]),
    } <= locked_wheels

    # the amd64 image serves a request on the host's network
    port = free_port()
    name = f"flask-{port}"
    cli.subprocess(
        "run", "-d", "--name", name, "--network", "host", "flask:1", "/app/app.py", str(port)
    ).check()
    try:
        wait_until(lambda: _get(port) is not None, timeout=60, what="the Flask app")
        assert _get(port) == "Hello from Flask on distroless\n"
    finally:
        cli.subprocess("rm", "-f", name)
    assert SafetyLedger().check_store(bases_root) == []

    # a changed requirements file makes the lock stale
    (tmp_path / "app" / "requirements.txt").write_text("flask==3.1.1\n")
    stale = cli.subprocess("build", "--spec", spec, env=_env(package_cache))
    assert stale.exit_code != 0 and "no longer matches" in stale.stderr


def test_bad_python_input_is_one_line_and_changes_nothing(
    tmp_path: Path, package_cache: Path, bases_root: Path
) -> None:
    cli = Cli(bases_root)
    (tmp_path / "sdist.txt").write_text("docopt==0.6.2\n")  # published only as an sdist
    (tmp_path / "ok.txt").write_text("humanize\n")
    cases = {
        "sdist": (
            "base: distroless/python3",
            "{requirements: sdist.txt}",
            r"^error: docopt==0\.6\.2: no wheel for CPython 3\.13 on linux/amd64",
        ),
        "version": (
            "base: distroless/python3",
            "{requirements: ok.txt, version: '3.99'}",
            r"python version 3\.99 is not the Python of the base .*\(3\.13\)",
        ),
        "no-python": ("base: scratch", "{requirements: ok.txt}", r"need a base with Python"),
        "pyproject-toml": (
            "base: distroless/python3",
            "{pyproject: broken.toml}",
            r"^error: \S*broken\.toml: cannot read it \(",
        ),
        "pyproject-deps": (
            "base: distroless/python3",
            "{pyproject: string.toml}",
            r"^error: \S*string\.toml: \[project\] dependencies must be a list of strings$",
        ),
    }
    (tmp_path / "broken.toml").write_text("[project\ndependencies = []\n")
    (tmp_path / "string.toml").write_text('[project]\nname = "app"\ndependencies = "humanize"\n')
    for name, (base, python, message) in cases.items():
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(f"{base}\narchs: [amd64]\npython: {python}\n")
        before = _tree(bases_root), _tree(package_cache / "wheels")
        result = cli.subprocess("build", "--spec", spec, "-t", f"{name}:1", env=_env(package_cache))
        assert result.exit_code != 0, name
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert re.search(message, lines[0]), lines[0]
        assert (_tree(bases_root), _tree(package_cache / "wheels")) == before, name


PYPROJECT = """\
[project]
name = "sizes"
version = "1.0"
dependencies = ["humanize==4.12.3", "markupsafe==3.0.3"]
"""

SIZES_APP = """\
import humanize
from markupsafe import _speedups, escape

print(humanize.naturalsize(2048), escape("<b>"), _speedups.__name__)
"""


def test_a_python_app_from_its_pyproject(
    tmp_path: Path, package_cache: Path, bases_root: Path
) -> None:
    """``python: {pyproject: …}``: the ``[project] dependencies`` as wheels, in one layer."""
    import tarfile

    require_root()
    require_tool("runc")
    cli = Cli(bases_root)
    app = tmp_path / "app"
    app.mkdir()
    (app / "pyproject.toml").write_text(PYPROJECT)
    (app / "sizes.py").write_text(SIZES_APP)
    spec = app / "image.yaml"
    spec.write_text(
        "base: distroless/python3\narchs: [amd64]\npython: {pyproject: pyproject.toml}\n"
        "files:\n  - {src: sizes.py, dst: /app/sizes.py}\ncmd: [/app/sizes.py]\n"
    )
    built = cli.subprocess("build", "--spec", spec, "-t", "sizes:1", env=_env(package_cache))
    built.check()
    store = Store(bases_root)
    base = store.load_image(PYTHON3, AMD64)
    image = store.load_image("sizes:1", AMD64)
    assert image.layers[: len(base.layers)] == base.layers
    wheel_layers = [h.created_by for h in image.config.history if h.created_by.startswith("py")]
    assert len(wheel_layers) == 1, wheel_layers
    assert wheel_layers[0].startswith("python wheels for 3.13 (amd64): ")
    assert "humanize 4.12.3" in wheel_layers[0] and "MarkupSafe 3.0.3" in wheel_layers[0]

    # the wheels' files are all in one layer, and none of them is a .pyc
    holding = {}
    for layer in image.layers[len(base.layers) :]:
        with store.open_blob(layer.digest) as fh, tarfile.open(fileobj=fh, mode="r:*") as tar:
            names = tar.getnames()
        if any(n.lstrip("./").startswith(SITE.lstrip("/")) for n in names):
            holding[layer.digest] = names
    assert len(holding) == 1, list(holding)
    (names,) = holding.values()
    assert f"{SITE.lstrip('/')}/humanize/__init__.py" in {n.lstrip("./") for n in names}
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]

    ran = cli.subprocess("run", "--rm", "--network", "none", "sizes:1").check()
    assert ran.stdout.strip() == "2.0 kB &lt;b&gt; markupsafe._speedups"

    sbom = cli.subprocess("sbom", "sizes:1").check().stdout
    purls = set(re.findall(r'"(pkg:pypi/[^"]+)"', sbom))
    assert purls == {"pkg:pypi/humanize@4.12.3", "pkg:pypi/markupsafe@3.0.3"}

    # the lock is tied to the dependencies: the project's own version may change, they not
    cli.subprocess("lock", spec, env=_env(package_cache)).check()
    lock = json.loads(spec.with_name("image.lock.json").read_text())
    assert {w["name"] for w in lock["python"]["amd64"]["wheels"]} == {"humanize", "MarkupSafe"}
    (app / "pyproject.toml").write_text(PYPROJECT.replace('version = "1.0"', 'version = "1.1"'))
    again = cli.subprocess("build", "--spec", spec, "-t", "sizes:2", env=_env(package_cache))
    assert again.check().stdout == built.stdout
    (app / "pyproject.toml").write_text(PYPROJECT.replace("4.12.3", "4.12.2"))
    stale = cli.subprocess("build", "--spec", spec, "-t", "sizes:3", env=_env(package_cache))
    assert stale.exit_code != 0 and "no longer matches" in stale.stderr


# --- the Dockerfile pattern -----------------------------------------------------------------


@pytest.mark.unsafe_images  # the builder image holds pip on purpose
def test_the_dockerfile_builder_stage_pattern(
    tmp_path: Path, package_cache: Path, bases_root: Path
) -> None:
    """docs/python.md: ``pip install --target`` in a builder, ``COPY --from`` into python3."""
    require_root()
    require_tool("runc")
    cli = Cli(bases_root)
    builder = tmp_path / "builder"
    builder.mkdir()
    (builder / "image.yaml").write_text(
        "base: distroless/python3\npackages: [python3-pip]\narchs: [amd64]\n"
    )
    cli.subprocess("build", "--spec", builder / "image.yaml", "-t", "pip-builder",
                   env=_env(package_cache)).check()  # fmt: skip
    context = tmp_path / "context"
    wheels = context / "wheels"
    wheels.mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--dest", str(wheels), "humanize==4.12.3"],
        check=True,
    )  # fmt: skip
    (context / "requirements.txt").write_text("humanize==4.12.3\n")
    (context / "app.py").write_text("import humanize\nprint(humanize.naturalsize(2048))\n")
    (context / "Dockerfile").write_text(
        "FROM pip-builder AS build\n"
        "COPY requirements.txt wheels /src/\n"
        'RUN ["python3", "-m", "pip", "install", "--no-index", "--find-links", "/src", '
        '"--target", "/deps", "-r", "/src/requirements.txt"]\n'
        "\n"
        "FROM gcr.io/distroless/python3\n"
        "COPY --from=build /deps /deps\n"
        "COPY app.py /app/app.py\n"
        "ENV PYTHONPATH=/deps\n"
        'CMD ["/app/app.py"]\n'
    )
    cli.subprocess("build", "--platform", "linux/amd64", "-t", "pattern:1", context,
                   env=_env(package_cache)).check()  # fmt: skip
    ran = cli.subprocess("run", "--rm", "--network", "none", "pattern:1").check()
    assert ran.stdout.strip() == "2.0 kB"
    sbom = cli.subprocess("sbom", "pattern:1").check().stdout
    assert "pkg:pypi/humanize@4.12.3" in sbom
    assert cli.subprocess("check", "pattern:1").exit_code == 0


# --- base: as FROM ----------------------------------------------------------------------------


def test_a_spec_on_cc_debian12_builds_its_base_on_the_spot(
    tmp_path: Path, package_cache: Path
) -> None:
    cli = Cli(tmp_path / "fresh")
    spec = tmp_path / "image.yaml"
    spec.write_text(
        "base: gcr.io/distroless/cc-debian12\ndistro: debian12\narchs: [amd64]\n"
        "files:\n  - {dst: /etc/app.conf, content: 'x=1\\n'}\n"
    )
    built = cli.subprocess("build", "--spec", spec, "-t", "on-cc:1", env=_env(package_cache))
    assert "building base image gcr.io/distroless/cc-debian12" in built.check().stderr
    store = Store(tmp_path / "fresh")
    base = store.load_image("gcr.io/distroless/cc-debian12", AMD64)
    image = store.load_image("on-cc:1", AMD64)
    assert image.layers[: len(base.layers)] == base.layers
    assert image.config.config.entrypoint == base.config.config.entrypoint
    assert image.config.config.user == base.config.config.user


def test_a_spec_on_a_registry_base_in_a_fresh_store(
    bases_root: Path, tmp_path: Path, package_cache: Path, registry: Registry
) -> None:
    """``base:`` names an image in a registry, directly or through ``--registry-mirror``:
    the base (amd64 and arm64) is pulled into a fresh store, its layers stay first and only
    the packages each architecture's base lacks are added on top."""
    require_root()
    require_tool("runc")
    ref = registry.ref("adding/python3", "1")
    Cli(bases_root)("push", PYTHON3, ref).check()
    platforms = (AMD64, Platform("linux", "arm64"))
    local = {p: Store(bases_root).load_image(PYTHON3, p) for p in platforms}
    held = {p: {s["Package"] for s in _status_d(Store(bases_root), PYTHON3, p)} for p in platforms}

    def build(name: str, base: str, *flags: str) -> tuple[Cli, str]:
        root = tmp_path / name
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(f"base: {base}\npackages: [python3-humanize]\narchs: [amd64, arm64]\n")
        assert not root.exists()
        cli = Cli(root)
        built = cli.subprocess(
            "build", "--spec", spec, *flags, "-t", "humanize:reg", env=_env(package_cache)
        )
        return cli, built.check().stdout

    cli, direct = build("direct", ref)
    store = Store(tmp_path / "direct")
    added_per_arch = {}
    for platform in platforms:
        base_image, image = local[platform], store.load_image("humanize:reg", platform)
        assert image.layers[: len(base_image.layers)] == base_image.layers, platform
        added = [h.created_by for h in image.config.history[len(base_image.config.history) :]]
        names = {c.split()[1] for c in added}
        arch = platform.debian_arch()
        assert all(c.startswith("deb ") and c.split()[3] in (arch, "all") for c in added)
        assert len(added) == len(names), added
        assert {"python3-humanize", "python3-minimal"} <= names, added
        assert not names & held[platform] and not names & set(DEFAULT_MANAGEMENT), added
        assert len(image.layers) == len(base_image.layers) + len(added)
        assert image.config.config.entrypoint == base_image.config.config.entrypoint
        added_per_arch[arch] = names
    assert added_per_arch["amd64"] == added_per_arch["arm64"]
    checked = cli.subprocess("check", "humanize:reg").check()
    assert checked.stdout.splitlines()[0].endswith("passed"), checked.stdout
    code = "import humanize; print(humanize.naturalsize(123456789))"
    ran = cli.subprocess("run", "--rm", "--network", "none", "humanize:reg", "-c", code)
    assert ran.check().stdout.strip() == "123.5 MB"

    # without a host the name is the default registry's, served here by the mirror alone;
    # the same base and packages give the same image
    _, mirrored = build("mirrored", "adding/python3:1", "--registry-mirror", registry.url)
    assert mirrored == direct

    # a base the registry does not hold, or a registry that does not answer: one line each,
    # and the store and the package cache are as they were
    cli = Cli(tmp_path / "direct")
    for name, base, message in (
        ("missing", registry.ref("adding/missing", "1"), r"adding/missing:1"),
        ("no-registry", f"127.0.0.1:{free_port()}/adding/python3:1", r"127\.0\.0\.1:\d+"),
    ):
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(f"base: {base}\npackages: [python3-humanize]\narchs: [amd64]\n")
        before = _tree(tmp_path / "direct"), _tree(package_cache / "debs")
        result = cli.subprocess("build", "--spec", spec, "-t", "bad:1", env=_env(package_cache))
        assert result.exit_code != 0, name
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert re.search(message, lines[0]), lines[0]
        assert (_tree(tmp_path / "direct"), _tree(package_cache / "debs")) == before, name


# --- progress -------------------------------------------------------------------------------


def test_bases_build_progress_on_a_terminal_in_a_pipe_and_plain(
    tmp_path: Path, package_cache: Path
) -> None:
    """Bars on a pseudo-terminal; nothing extra in a pipe; one line per step with ``plain``."""
    import pexpect

    from tests.helpers import distroless_executable

    env = {**os.environ, "TERM": "xterm", "DISTROLESS_CACHE": str(package_cache)}
    terminal = pexpect.spawn(
        str(distroless_executable()),
        ["--root", str(tmp_path / "tty"), "bases", "build", "static:latest", "--arch", "amd64"],
        env=env, timeout=300, encoding="utf-8", dimensions=(24, 120),
    )  # fmt: skip
    shown = terminal.read()
    terminal.close()
    assert terminal.exitstatus == 0, shown
    assert re.search(r"layer deb base-files \S+ .*━", shown), shown  # a bar, drawn by rich
    assert "\x1b[" in shown  # redrawn in place

    piped = Cli(tmp_path / "pipe").subprocess(
        "bases", "build", "static:latest", "--arch", "amd64", env=_env(package_cache)
    )
    assert piped.check().stderr == ""
    assert piped.stdout.startswith("distroless/static:latest  sha256:")

    plain = Cli(tmp_path / "plain").subprocess(
        "bases", "build", "static:latest", "--arch", "amd64", "--progress", "plain",
        env=_env(package_cache),
    ).check()  # fmt: skip
    lines = plain.stderr.splitlines()
    assert "━" not in plain.stderr and "\x1b[" not in plain.stderr
    layers = [line for line in lines if line.startswith("layer ")]
    assert any(re.fullmatch(r"layer [0-9a-f]{12} \S+: deb base-files \S+ amd64", x) for x in layers)
    assert len(layers) == len(set(layers))  # one line per step, not a redrawn bar
    assert re.search(r"^built static:latest [0-9a-f]{12}$", plain.stderr, re.M), plain.stderr
    assert plain.stdout == piped.stdout

    # --json: events as JSON lines (the pipe's store has the layers now: cached events)
    events = Cli(tmp_path / "pipe").subprocess(
        "bases", "build", "static:latest", "--arch", "amd64", "--json", env=_env(package_cache)
    ).check()  # fmt: skip
    kinds = {json.loads(line)["event"] for line in events.stderr.splitlines()}
    assert {"layer-cached", "base-built"} <= kinds, events.stderr
    assert json.loads(events.stdout)[0]["name"] == "static"


# --- prune and system df (last: it empties the module's store) ------------------------------


def test_prune_reclaims_unpacked_layers_and_df_shows_it(bases_root: Path, tmp_path: Path) -> None:
    """After ``rmi`` of every image, ``prune --all`` leaves no unpacked layer and no blob."""
    cli = Cli(bases_root)
    cache = {"DISTROLESS_CACHE": str(tmp_path / "cache")}  # never the shared package cache

    def df() -> dict[str, dict[str, int]]:
        rows = cli.subprocess("system", "df", "--json", env=cache).check().json()
        assert isinstance(rows, list)
        return {row["name"]: row for row in rows}

    require_root()
    require_tool("runc")
    cli.subprocess("run", "--rm", "--network", "none", PYTHON3, "-c", "pass").check()
    before = df()
    unpacked = before["unpacked layers"]
    assert unpacked["count"] > 0 and unpacked["size"] > 0  # run unpacked the layers
    listed = json.loads(cli.subprocess("images", "--json").check().stdout)
    names = [image["name"] for image in listed]
    cli.subprocess("rmi", *names).check()
    assert df()["unpacked layers"]["reclaimable"] == unpacked["size"]

    pruned = cli.subprocess("prune", "--all", "--json", env=cache).check().json()
    assert isinstance(pruned, dict)
    assert pruned["unpacked_layers"] == unpacked["count"]
    # df counts the files' bytes; prune also the directories' own entries and the indexes
    assert pruned["unpacked_bytes"] >= unpacked["size"]
    after = df()
    assert all(row["size"] == 0 for row in after.values()), after
    layers = bases_root / "state" / "layers"
    assert [p.name for p in layers.rglob("*") if not p.is_dir()] == ["lock"]
    assert not [p for p in (bases_root / "blobs").rglob("*") if p.is_file()]

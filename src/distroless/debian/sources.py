"""Which Debian mirror to use, read from the host's apt sources unless overridden.

No mirror host name is written into the project: the default comes from the apt
configuration of the machine running the build (deb822 ``*.sources`` files and one-line
``sources.list`` / ``*.list`` files).  The order of precedence is an explicit ``--mirror``
value, then ``DISTROLESS_MIRROR``, then the spec's ``repositories``, then the host.

An override is ``MAIN`` or ``MAIN,SECURITY`` (comma or whitespace separated); with only
``MAIN`` the security archive still comes from the host when it names one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from distroless.errors import DebianError, UsageError

ENV_MIRROR = "DISTROLESS_MIRROR"

#: Debian release code names, past and future; suites named like these are the main archive.
DEBIAN_CODENAMES = frozenset(
    {
        "buzz", "rex", "bo", "hamm", "slink", "potato", "woody", "sarge", "etch", "lenny",
        "squeeze", "wheezy", "jessie", "stretch", "buster", "bullseye", "bookworm", "trixie",
        "forky", "duke", "sid", "stable", "testing", "unstable", "oldstable", "oldoldstable",
    }
)  # fmt: skip


DEBIAN_POCKETS = frozenset({"", "updates", "backports", "proposed-updates", "backports-sloppy"})


@dataclass(frozen=True)
class Distro:
    """A Debian release the base images are built from."""

    name: str
    codename: str
    version: str
    merged_usr: bool

    @property
    def main_suites(self) -> tuple[str, ...]:
        return (self.codename, f"{self.codename}-updates")

    @property
    def security_suite(self) -> str:
        return f"{self.codename}-security"


DISTROS: Mapping[str, Distro] = {
    "debian13": Distro("debian13", "trixie", "13", merged_usr=True),
    "debian12": Distro("debian12", "bookworm", "12", merged_usr=False),
}


def distro(name: str) -> Distro:
    try:
        return DISTROS[name]
    except KeyError:
        known = ", ".join(sorted(DISTROS))
        raise UsageError(f"unknown distro {name!r}; known: {known}") from None


@dataclass(frozen=True)
class AptSource:
    """One ``deb`` source line or stanza of the host's apt configuration."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    origin: str

    @property
    def is_security(self) -> bool:
        return any(_is_security_suite(s) for s in self.suites)

    @property
    def is_debian_main(self) -> bool:
        """Suites named after Debian releases with a ``main`` component (so not a
        third-party repository that merely reuses a code name as its suite)."""
        return (
            "main" in self.components
            and any(_is_debian_suite(s) for s in self.suites)
            and not self.is_security
        )


@dataclass(frozen=True)
class Mirrors:
    """Base URLs of the main Debian archive and (when known) of the security archive."""

    main: str
    security: str | None


@dataclass(frozen=True)
class SuiteSource:
    """A suite and the archive that serves it."""

    mirror: str
    suite: str


def _is_debian_suite(suite: str) -> bool:
    name, _, pocket = suite.partition("-")
    return name in DEBIAN_CODENAMES and pocket in DEBIAN_POCKETS


def _is_security_suite(suite: str) -> bool:
    return suite.endswith("-security") or suite.endswith("/updates")


def _normalise_uri(uri: str) -> str:
    uri = uri.strip()
    if not re.match(r"^https?://", uri):
        raise UsageError(f"mirror {uri!r} is not an http(s) URL")
    return uri.rstrip("/")


def _parse_deb822_sources(text: str, origin: str) -> Iterable[AptSource]:
    stanza: dict[str, str] = {}
    last: str | None = None

    def flush() -> Iterable[AptSource]:
        if not stanza:
            return []
        if stanza.get("enabled", "yes").strip().lower() == "no":
            return []
        if "deb" not in stanza.get("types", "").split():
            return []
        suites = tuple(stanza.get("suites", "").split())
        comps = tuple(stanza.get("components", "").split())
        return [
            AptSource(uri.rstrip("/"), suites, comps, origin)
            for uri in stanza.get("uris", "").split()
            if re.match(r"^https?://", uri)
        ]

    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            yield from flush()
            stanza, last = {}, None
            continue
        if line[0] in " \t" and last is not None:
            stanza[last] += " " + line.strip()
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        last = key.strip().lower()
        stanza[last] = value.strip()
    yield from flush()


def _parse_one_line_sources(text: str, origin: str) -> Iterable[AptSource]:
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        line = re.sub(r"\[[^\]]*\]", " ", line)  # options such as [arch=amd64 signed-by=...]
        words = line.split()
        if len(words) < 3 or words[0] != "deb":
            continue
        uri, suite, comps = words[1], words[2], tuple(words[3:])
        if re.match(r"^https?://", uri):
            yield AptSource(uri.rstrip("/"), (suite,), comps, origin)


def read_apt_sources(apt_root: Path = Path("/")) -> list[AptSource]:
    """Every http(s) ``deb`` source configured under ``apt_root`` (in apt's file order)."""
    etc = apt_root / "etc" / "apt"
    found: list[AptSource] = []
    one_line = [etc / "sources.list"]
    parts = etc / "sources.list.d"
    if parts.is_dir():
        one_line += sorted(parts.glob("*.list"))
    for path in one_line:
        if path.is_file():
            found += _parse_one_line_sources(path.read_text(errors="replace"), str(path))
    if parts.is_dir():
        for path in sorted(parts.glob("*.sources")):
            found += _parse_deb822_sources(path.read_text(errors="replace"), str(path))
    return found


def _split_override(text: str) -> tuple[str, str | None]:
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if not parts or len(parts) > 2:
        raise UsageError(f"mirror override {text!r} must be MAIN or MAIN,SECURITY")
    main = _normalise_uri(parts[0])
    security = _normalise_uri(parts[1]) if len(parts) == 2 else None
    return main, security


def host_mirrors(apt_root: Path = Path("/")) -> Mirrors | None:
    """The main and security archives named by the host's apt sources, if any."""
    sources = read_apt_sources(apt_root)
    main = next((s.uri for s in sources if s.is_debian_main), None)
    security = next((s.uri for s in sources if s.is_security), None)
    if main is None:
        return None
    return Mirrors(main, security)


def discover_mirrors(
    apt_root: Path = Path("/"),
    override: str | None = None,
    env: Mapping[str, str] = os.environ,
    repositories: Sequence[str] = (),
) -> Mirrors:
    """Mirrors to use: ``override`` > ``DISTROLESS_MIRROR`` > ``repositories`` > host.

    ``repositories`` is the spec's list: its first URL is the main archive and an entry
    containing ``security`` in its path, if any, the security archive.
    """
    host = host_mirrors(apt_root)
    host_security = host.security if host else None
    for text in (override, env.get(ENV_MIRROR)):
        if text:
            main, security = _split_override(text)
            return Mirrors(main, security or host_security)
    if repositories:
        urls = [_normalise_uri(r) for r in repositories]
        security_urls = [u for u in urls if "security" in u.split("//", 1)[-1].partition("/")[2]]
        main_urls = [u for u in urls if u not in security_urls]
        if not main_urls:
            raise UsageError("spec repositories name no main Debian archive")
        return Mirrors(main_urls[0], security_urls[0] if security_urls else host_security)
    if host is None:
        raise DebianError(
            f"no Debian archive found in the apt sources under {apt_root / 'etc/apt'}; "
            f"pass --mirror URL or set {ENV_MIRROR}"
        )
    return host


def suite_sources(dist: Distro, mirrors: Mirrors) -> list[SuiteSource]:
    """The suites a distro is built from and where each is served.

    Without a security archive the security suite is left out (callers should report
    that the images then lack security updates).
    """
    out = [SuiteSource(mirrors.main, suite) for suite in dist.main_suites]
    if mirrors.security is not None:
        out.append(SuiteSource(mirrors.security, dist.security_suite))
    return out

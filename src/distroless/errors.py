"""The one exception hierarchy of the project.

Every failure a user can cause or meet is a :class:`DistrolessError`; the CLI maps each
class to its exit code in one place, so a script calling ``distroless`` can tell a bad
Dockerfile from a registry outage without parsing messages.  Messages are one sentence
that names the file, line, package or digest at fault and, where there is one, the fix.
"""

from __future__ import annotations


class DistrolessError(Exception):
    """Root of every error the tool reports to a user."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(DistrolessError):
    """The command line itself is wrong (unknown flag value, missing argument)."""

    exit_code = 2


class InputError(DistrolessError):
    """A user file (spec, Dockerfile, config, lockfile) is missing or malformed."""

    exit_code = 3


class SpecError(InputError):
    """The declarative image spec is invalid; the message names the key and line."""


class DockerfileError(InputError):
    """The Dockerfile cannot be parsed or uses something unsupported."""


class LockfileError(InputError):
    """The lockfile is missing, unreadable, or no longer matches its spec."""


class ReferenceFormatError(InputError):
    """An image reference (``name:tag@digest``) is not valid."""


class NotFoundError(DistrolessError):
    """An image, tag, blob, stage or package that was asked for does not exist."""

    exit_code = 4


class IntegrityError(DistrolessError):
    """Content did not match its digest or signature; nothing of it was kept."""

    exit_code = 5


class StoreError(DistrolessError):
    """The local store cannot be read or written (permissions, full disk, corruption)."""

    exit_code = 6


class ArchiveError(DistrolessError):
    """A tar, ar, .deb or image archive is malformed or hostile."""

    exit_code = 7


class DebianError(DistrolessError):
    """Package resolution or the Debian archive failed (unsatisfiable, unreachable)."""

    exit_code = 8


class BuildError(DistrolessError):
    """A build step failed (a RUN exited non-zero, a COPY source is missing)."""

    exit_code = 9


class SandboxError(DistrolessError):
    """The runtime sandbox could not be set up (runc missing, not root, bad user)."""

    exit_code = 10


class RegistryError(DistrolessError):
    """A registry refused or failed a request."""

    exit_code = 11


class AuthError(RegistryError):
    """A registry rejected the credentials, or none were found for it."""

    exit_code = 12


class PythonPackageError(DistrolessError):
    """A Python dependency cannot be resolved as a wheel, downloaded or installed."""

    exit_code = 13


class PolicyError(DistrolessError):
    """``check`` or ``test`` found the image does not meet its expectations."""

    exit_code = 1

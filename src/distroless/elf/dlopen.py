"""Libraries a program loads with ``dlopen`` that no ``DT_NEEDED`` names.

glibc opens some libraries only when a function is first called: the NSS modules behind
user, group and host lookups (``/etc/nsswitch.conf`` names them), ``libgcc_s`` for the
unwinder that thread cancellation and ``pthread_exit`` need, and the gconv modules behind
``iconv``.  A closure cannot see them, so a program importing one of these symbols needs
them added by hand (``pack --with nss,gconv``); :func:`dlopen_features` says which.
"""

from __future__ import annotations

from collections.abc import Iterable

#: feature -> the imported symbols that make glibc dlopen its libraries
DLOPEN_SYMBOLS: dict[str, frozenset[str]] = {
    "nss": frozenset(
        {
            "getaddrinfo", "getnameinfo", "gethostbyname", "gethostbyname2", "gethostbyname_r",
            "gethostbyname2_r", "gethostbyaddr", "gethostbyaddr_r", "gethostent",
            "getpwnam", "getpwnam_r", "getpwuid", "getpwuid_r", "getpwent", "getpwent_r",
            "getgrnam", "getgrnam_r", "getgrgid", "getgrgid_r", "getgrent", "getgrent_r",
            "getgrouplist", "initgroups", "getspnam", "getspnam_r",
            "getservbyname", "getservbyname_r", "getservbyport", "getservbyport_r",
            "getprotobyname", "getprotobyname_r", "getprotobynumber", "getnetbyname",
            "getnetgrent", "innetgr", "getaliasbyname",
        }
    ),
    "libgcc_s": frozenset({"pthread_cancel", "pthread_exit", "backtrace"}),
    "gconv": frozenset({"iconv_open"}),
}  # fmt: skip


def dlopen_features(imports: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Each feature the imported symbols call for, with the symbols that call for it."""
    names = set(imports)
    found = {feature: tuple(sorted(names & symbols)) for feature, symbols in DLOPEN_SYMBOLS.items()}
    return {feature: symbols for feature, symbols in found.items() if symbols}

"""``distroless pack``: the smallest image some programs start in, taken from where they were built.

:func:`plan_pack` decides the files (each program, its ELF closure as
:class:`~distroless.elf.ClosureResolver` finds it, the ``--with`` extras), :mod:`.layer`
copies them and attributes them to the source's Debian packages, :func:`pack_image`
stores the image through :func:`distroless.assemble.image.assemble`.
"""

from distroless.pack.dpkgdb import OwnedPackage, PackageDatabase
from distroless.pack.image import Packed, pack_image
from distroless.pack.plan import EXTRAS, PackedFile, PackPlan, nss_modules, parse_extras, plan_pack

__all__ = [
    "EXTRAS",
    "OwnedPackage",
    "PackPlan",
    "PackageDatabase",
    "Packed",
    "PackedFile",
    "nss_modules",
    "pack_image",
    "parse_extras",
    "plan_pack",
]

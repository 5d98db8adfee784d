"""Python applications on the python3 base: their dependencies as wheels, in one layer.

The flow is the Debian side's, for wheels: :mod:`.target` reads what the base's Python is
(version, glibc, architecture) from its ``status.d``; :mod:`.resolve` asks pip which wheels
fit that interpreter (binary only, for the manylinux tags the base's glibc satisfies);
:mod:`.fetch` downloads them into the package cache, verified by sha256; :mod:`.install`
installs them with pypa/installer into the image's site-packages; :mod:`.layers` ties
them to a spec build and its lock.
"""

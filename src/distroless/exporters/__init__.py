"""Where a build's result goes besides the store: buildx's ``--output`` exporters.

:mod:`.spec` reads the ``--output`` value (BuildKit's CSV syntax) at the boundary;
:mod:`.filesystem` writes the flattened file system (``type=local``, ``type=tar``);
:mod:`.archive` writes image archives (``type=oci``, ``type=docker``) with ``save``'s
writer; :mod:`.registry` pushes the image with its referrers (``--push``,
``type=registry``); :mod:`.metadata` writes ``--iidfile`` and ``--metadata-file``.  Every exporter
takes an image descriptor, a manifest or an index: an index is exported one platform at a
time, into a ``linux_amd64/``-style subdirectory, as buildx does.

The writers (:mod:`.write` and what it uses) load only when a build has outputs: every
``build`` parses its ``--output`` flags, few write one.
"""

from distroless.exporters.spec import OutputSpec, check_destinations, parse_output

__all__ = ["OutputSpec", "check_destinations", "parse_output"]

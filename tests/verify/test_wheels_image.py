"""An image of real wheels: distributions pip installed (this test run's own dependencies)
copied into an image by a Dockerfile build; its SBOM lists every one of them, with the
files its RECORD names, and both formats pass the independent validators."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
from collections import defaultdict
from pathlib import Path

from tests.helpers import Cli
from tests.verify.validators import cyclonedx_problem, spdx_problems

#: pure-Python distributions the test extras always install
WHEELS = ("click", "jsonschema", "attrs", "referencing", "pydantic")
SITE = "usr/lib/python3/dist-packages"


def _install(dist: importlib.metadata.Distribution, site: Path) -> int:
    """Copy what pip installed for ``dist`` under ``site``, as pip laid it out."""
    copied = 0
    for part in dist.files or ():
        if part.parts[0] == ".." or part.suffix == ".pyc":
            continue  # scripts outside site-packages, and the bytecode cache
        source = Path(str(dist.locate_file(part)))
        if source.is_file():
            target = site / part
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            copied += 1
    return copied


def test_the_sbom_of_a_wheels_image_lists_every_wheel(tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    site = context / "site"
    dists = {name: importlib.metadata.distribution(name) for name in WHEELS}
    assert all(_install(d, site) for d in dists.values())
    (context / "Dockerfile").write_text(f"FROM scratch\nCOPY site/ /{SITE}/\n")
    cli = Cli(tmp_path / "store")
    cli("build", "-q", "-t", "wheels:1", context).check()

    spdx = cli("sbom", "wheels:1").check().stdout.encode()
    assert spdx_problems(spdx) == []
    doc = json.loads(spdx)
    purls = {
        ref["referenceLocator"]: p
        for p in doc["packages"]
        for ref in p.get("externalRefs", ())
        if ref["referenceType"] == "purl" and ref["referenceLocator"].startswith("pkg:pypi/")
    }
    expected = {f"pkg:pypi/{name}@{d.version}" for name, d in dists.items()}
    assert set(purls) == expected
    owned: dict[str, set[str]] = defaultdict(set)
    for r in doc["relationships"]:
        if r["relationshipType"] == "CONTAINS":
            owned[r["spdxElementId"]].add(r["relatedSpdxElement"])
    names = {f["SPDXID"]: f["fileName"] for f in doc["files"]}
    click_files = {
        names[i] for i in owned[purls[f"pkg:pypi/click@{dists['click'].version}"]["SPDXID"]]
    }
    assert f"./{SITE}/click/core.py" in click_files

    cdx = cli("sbom", "wheels:1", "--format", "cyclonedx-json").check().stdout
    assert cyclonedx_problem(cdx) is None
    components = {c.get("purl") for c in json.loads(cdx)["components"]}
    assert expected <= components

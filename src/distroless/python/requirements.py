"""The application's requirements, from ``requirements.txt`` or ``pyproject.toml``.

A requirements file goes to pip as it is (``-r``); from a ``pyproject.toml`` only the
``[project] dependencies`` are taken (the project itself is not built: it is the
application, copied with ``files:``).  The digest of the text is what a lock is tied to.
"""

from __future__ import annotations

import hashlib
import tomllib

from distroless.errors import SpecError
from distroless.spec.model import PythonSpec


def requirement_lines(spec: PythonSpec) -> list[str]:
    """The requirement lines; the file of ``requirements`` is read as pip reads it."""
    if spec.pyproject is not None:
        try:
            data = tomllib.loads(spec.pyproject.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SpecError(f"{spec.pyproject}: cannot read it ({exc})") from None
        project = data.get("project", {})
        if not isinstance(project, dict):
            raise SpecError(f"{spec.pyproject}: [project] must be a table")
        dynamic = project.get("dynamic", [])
        if isinstance(dynamic, list) and "dependencies" in dynamic:
            # the build backend makes them; taking none would leave the image without them
            raise SpecError(
                f"{spec.pyproject}: [project] dependencies are dynamic; list them in "
                "[project] dependencies or give a requirements file"
            )
        dependencies = project.get("dependencies", [])
        if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
            raise SpecError(f"{spec.pyproject}: [project] dependencies must be a list of strings")
        return list(dependencies)
    assert spec.requirements is not None
    try:
        return spec.requirements.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{spec.requirements}: cannot read it ({exc})") from None


def requirements_digest(spec: PythonSpec) -> str:
    """``sha256:<hex>`` of what is asked for: the requirement text and the Python version."""
    text = "\n".join(requirement_lines(spec)) + f"\n#python={spec.version or ''}\n"
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

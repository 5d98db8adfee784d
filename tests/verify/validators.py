"""The independent checkers of our SBOMs: spdx-tools' validator and CycloneDX's own schema.

spdx-tools (the SPDX project's Python library) parses a document into its model and runs
the checks of the SPDX 2.3 specification on it, relationships included; the CycloneDX 1.6
JSON schema is the official file that cyclonedx-python-lib ships.
"""

from __future__ import annotations

import json

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document


def spdx_problems(data: bytes) -> list[str]:
    """What spdx-tools finds wrong with SPDX JSON ``data`` (empty when it validates)."""
    document = JsonLikeDictParser().parse(json.loads(data))  # type: ignore[no-untyped-call]
    return [m.validation_message for m in validate_full_spdx_document(document, "SPDX-2.3")]


def cyclonedx_problem(text: bytes | str, version: str = "1.6") -> str | None:
    """The first schema violation of CycloneDX JSON ``text``, or None."""
    schema = SchemaVersion.V1_6 if version == "1.6" else SchemaVersion.V1_5
    raw = text.decode() if isinstance(text, bytes) else text
    error = JsonStrictValidator(schema).validate_str(raw)
    return None if error is None else str(error)

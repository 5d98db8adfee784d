"""YAML loading that remembers where every key stood, for error messages with line numbers."""

from __future__ import annotations

from typing import Any

import yaml

from distroless.errors import SpecError

Path_ = tuple[str | int, ...]


def load_with_lines(text: str, filename: str) -> tuple[Any, dict[Path_, int]]:
    """Parse ``text`` safely; return the data and a map from key path to 1-based line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark is not None else filename
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{where}: invalid YAML: {problem}") from None
    except RecursionError:
        raise SpecError(f"{filename}: the YAML nests too deeply") from None
    lines: dict[Path_, int] = {}
    if node is not None:
        _walk(node, lines)
    if _is_cyclic(data):
        raise SpecError(f"{filename}: a YAML alias refers to its own anchor (a cycle)")
    return data, lines


def _walk(root: yaml.Node, lines: dict[Path_, int]) -> None:
    """Record each key's line; iterative, and each node once (aliases share nodes)."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Path_]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = (*path, str(key_node.value))
                lines[key] = key_node.start_mark.line + 1
                stack.append((value_node, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                stack.append((item, (*path, i)))


def _is_cyclic(data: Any) -> bool:
    """Whether a container holds itself (``&a [*a]``), which no spec can mean."""
    active: set[int] = set()
    done: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        item, leaving = stack.pop()
        if not isinstance(item, (dict, list)):
            continue
        if leaving:
            active.discard(id(item))
            done.add(id(item))
            continue
        if id(item) in active:
            return True
        if id(item) in done:
            continue
        active.add(id(item))
        stack.append((item, True))
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, False) for child in children)
    return False


def line_for(lines: dict[Path_, int], loc: Path_) -> int | None:
    """The line of ``loc`` or of its nearest ancestor that has one."""
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())

"""What a store's containers leave on the host: mounts, runtime entries, processes, state."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.helpers import require_tool


def mounts_under(path: Path) -> list[str]:
    """Mount points (from /proc/mounts) inside ``path``."""
    out = []
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 1 and fields[1].startswith(str(path)):
            out.append(fields[1])
    return out


def runtime_ids(root: Path) -> list[str]:
    """Containers runc knows whose bundle is in this store (others run on the machine)."""
    proc = subprocess.run([str(require_tool("runc")), "list", "--format", "json"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    items = json.loads(proc.stdout or "[]") or []
    return [c["id"] for c in items if str(c.get("bundle", "")).startswith(str(root))]


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if text.encode() in cmdline and alive(int(entry)):
            found.append(int(entry))
    return found


def container_states(root: Path) -> list[str]:
    directory = root / "state" / "containers"
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def owner_pid(root: Path, name: str) -> int:
    record = json.loads((root / "state" / "containers" / name / "owner.json").read_text())
    return int(record["pid"])


def in_foreground(command: str) -> bool:
    """Whether a process running ``command`` is its terminal's foreground job."""
    wanted = command.replace(" ", "\0").encode() + b"\0"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if Path(f"/proc/{entry}/cmdline").read_bytes() != wanted:
                continue
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[2] == fields[5]:  # pgrp == the terminal's foreground process group
            return True
    return False

"""The benchmark table as a picture: one bar per row with a peer, its ratio to the peer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from common import Row


def _limit(target: str) -> float:
    """The ratio a row must stay under, read from its target text ("ratio <= 1.25 …")."""
    found = re.search(r"ratio\s*<=?\s*([0-9.]+)", target)
    return float(found.group(1)) if found else 1.0


def write_chart(rows: Sequence[Row], out: Path) -> bool:
    """Write a PNG bar chart of ratios (ours / peer); False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    compared = [r for r in rows if r.ratio is not None]
    if not compared:
        return False
    labels = [f"{r.benchmark}\nvs {r.peer_name}" if r.peer_name else r.benchmark for r in compared]
    ratios = [float(r.ratio or 0.0) for r in compared]
    height = 0.9 * len(compared) + 1.5
    fig, ax = plt.subplots(figsize=(11, height))
    colors = [
        "#2e7d32" if value <= _limit(row.target) else "#c62828"
        for value, row in zip(ratios, compared, strict=True)
    ]
    ax.barh(range(len(compared)), ratios, color=colors)
    ax.axvline(1.0, color="black", linewidth=1, linestyle="--")
    ax.set_yticks(range(len(compared)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ours / peer (below 1: faster or smaller); green: within the target")
    for i, value in enumerate(ratios):
        ax.text(value, i, f" {value:.2f}x", va="center", fontsize=8)
    ax.set_title(f"distroless benchmarks ({compared[0].cores} cores, {compared[0].date})")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True

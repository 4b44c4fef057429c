#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Accuracy against depth from `feat probe` JSON reports, one panel per report.

    plot_probe.py OUT.png TITLE=REPORT.json [TITLE=REPORT.json ...]

Each panel draws every candidate tap whose spec ends in the block's index (in the report's
order, i.e. depth) as mean accuracy with a +/- std band and marks the best tap; the other
candidates (e.g. the side-car's default tap) and the winning fused set are horizontal lines."""
import json
import re
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def panel(ax, title, report):
    # The curve: the first candidate of each block index, in the report's (depth) order. The
    # other candidates (e.g. the side-car's default tap: EfficientNet-Lite0's _avg_pooling, or
    # MiniLM's layer.5:cls next to layer.5:mean) are drawn as horizontal lines.
    curve, others = {}, []
    for tap in report["taps"]:
        m = re.fullmatch(r"[^:,]*\.(\d+):\w+", tap["spec"])
        if m and int(m.group(1)) not in curve:
            curve[int(m.group(1))] = tap
        else:
            others.append(tap)
    d = list(curve)
    m = [t["accuracy_mean"] for t in curve.values()]
    s = [t["accuracy_std"] for t in curve.values()]
    ax.plot(d, m, marker="o", color="C0", label="single tap")
    ax.fill_between(d, [a - b for a, b in zip(m, s)], [a + b for a, b in zip(m, s)], color="C0", alpha=0.2)
    best = next(t for t in report["taps"] if t["spec"] == report["best_tap"])
    best_depth = next((k for k, t in curve.items() if t is best), None)
    if best_depth is not None:
        ax.plot([best_depth], [best["accuracy_mean"]], marker="*", markersize=14, color="C3", linestyle="none",
                label=f"best tap {best['spec']}")
    for i, tap in enumerate(others):
        # Prefixed: matplotlib leaves labels that start with "_" (EfficientNet's names) out of legends.
        ax.axhline(tap["accuracy_mean"], color=f"C{2 + i}", linestyle=":", label=f"also probed: {tap['spec']}")
    if report["winner"] != report["best_tap"]:
        ax.axhline(report["winner_accuracy_mean"], color="C1", linestyle="--",
                   label=f"fused winner ({report['winner'].count(',') + 1} taps)")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("block index (depth)")
    ax.set_ylabel(f"{report['method']['folds']}-fold accuracy")
    ax.set_xticks(d)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")


def main(out, *panels):
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    for ax, arg in zip(axes[0], panels):
        title, path = arg.split("=", 1)
        with open(path, encoding="utf-8") as f:
            panel(ax, title, json.load(f))
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"plot: {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])

"""The evaluation's figures for a person to look at: the confusion matrix and the reliability diagram (PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from pipeline.core.atomic import atomic_file  # noqa: E402


def confusion_png(matrix: list[list[int]], labels: list[str], path: Path) -> None:
    """Counts per (true, predicted) label, shaded by the share of the true label's rows."""
    size = min(max(4.0, 0.6 * len(labels) + 2), 24.0)  # inches; beyond about 35 labels the cells get small
    font = 10 if len(labels) <= 20 else max(4, 200 // len(labels))
    figure, axes = plt.subplots(figsize=(size + 1, size))
    shares = [[count / max(sum(row), 1) for count in row] for row in matrix]
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            if count:
                axes.text(j, i, str(count), ha="center", va="center", fontsize=font,
                          color="white" if shares[i][j] > 0.5 else "black")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=font, parse_math=False)
    axes.set_yticks(range(len(labels)), labels, fontsize=font, parse_math=False)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title("Confusion matrix (test): counts, shaded by share of the true label")
    figure.colorbar(image, ax=axes, fraction=0.046)
    _save(figure, path)


def reliability_png(before: list[dict], after: list[dict], ece: tuple[float, float], temperature: float,
                    path: Path) -> None:
    """Accuracy against confidence per bin (calibration.reliability), before and after temperature scaling;
    a calibrated model lies on the diagonal."""
    figure, axes = plt.subplots(figsize=(6, 6))
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", label="calibrated")
    for bins, name, marker in ((before, f"raw softmax (ECE {ece[0]:.3f})", "o"),
                               (after, f"temperature {temperature:g} (ECE {ece[1]:.3f})", "s")):
        axes.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker=marker, label=name)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("confidence (top probability), mean per bin")
    axes.set_ylabel("accuracy per bin")
    axes.set_title("Reliability diagram (test)")
    axes.legend(loc="upper left")
    _save(figure, path)


def _save(figure, path: Path) -> None:
    figure.tight_layout()
    with atomic_file(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=100)
    plt.close(figure)

"""The evaluation's figures for a person to look at: the confusion matrix (label sets: a per-label chart) and the
reliability diagram (PNG)."""

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


def per_label_png(rows: list[dict], path: Path) -> None:
    """Label sets: each label's precision, recall and F1 on test (multilabel.per_label rows) as bars side by side,
    the label's test rows beside its name; the labels in their order, top to bottom."""
    height = min(max(3.0, 0.45 * len(rows) + 1.5), 40.0)
    font = 10 if len(rows) <= 30 else max(4, 300 // len(rows))
    figure, axes = plt.subplots(figsize=(8, height))
    width = 0.27
    for offset, name, colour in ((-width, "precision", "tab:blue"), (0.0, "recall", "tab:orange"),
                                 (width, "f1", "tab:green")):
        axes.barh([i + offset for i in range(len(rows))], [row[name] for row in rows], height=width, color=colour,
                  label=name)
    axes.set_yticks(range(len(rows)), [f"{row['label']} ({row['support']})" for row in rows], fontsize=font,
                    parse_math=False)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel("score on the test split")
    axes.set_title("Per label (test rows that carry it)")
    axes.legend(loc="lower right", fontsize=8)
    _save(figure, path)


def reliability_png(before: list[dict], after: list[dict] | None, ece: tuple[float, float], temperature: float,
                    path: Path, sigmoids: bool = False) -> None:
    """Accuracy against confidence per bin (calibration.reliability), before and after temperature scaling;
    a calibrated model lies on the diagonal. For label sets (`sigmoids`: every label decision pooled, no
    temperature: `after` is None), the share of decisions whose label is right against their probability."""
    figure, axes = plt.subplots(figsize=(6, 6))
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", label="calibrated")
    curves = ((before, f"sigmoids, every label (mean ECE per label {ece[0]:.3f})", "o"),) if sigmoids else \
        ((before, f"raw softmax (ECE {ece[0]:.3f})", "o"), (after, f"temperature {temperature:g} (ECE {ece[1]:.3f})", "s"))
    for bins, name, marker in curves:
        axes.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker=marker, label=name)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("probability, mean per bin" if sigmoids else "confidence (top probability), mean per bin")
    axes.set_ylabel("share that carry the label, per bin" if sigmoids else "accuracy per bin")
    axes.set_title("Reliability diagram (test)")
    axes.legend(loc="upper left")
    _save(figure, path)


def _save(figure, path: Path) -> None:
    figure.tight_layout()
    with atomic_file(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=100)
    plt.close(figure)

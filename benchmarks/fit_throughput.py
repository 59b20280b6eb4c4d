"""Fit the throughput model's constants (pipeline/gpu/throughput.py) to Lambda's published BERT runs.

    .venv/bin/python benchmarks/fit_throughput.py

Reads tests/reference/gpu_throughput.csv: single-GPU SQuAD fine-tuning of bert-base and bert-large at seq 384
on the catalog's cards, fp16 (apex AMP O2) and fp32 (TF32 on Ampere and newer), from Lambda's v1 and v0
tables. Each row is predicted at its own card, precision and published batch (inputs, like the card), and
scipy.optimize.least_squares (deterministic: a fixed start, no randomness) minimises log(predicted /
measured) over the rows, with
- per architecture: the tensor-core matmul efficiency, bounded by 1.0 of the rated peak and pulled weakly
  toward the architectures' common value (a residual PRIOR_WEIGHT x log(efficiency / common) each: about
  +-25 % against the data's +-10 %), so an architecture with one measured card moves only as far as its rows ask;
- shared: the FP32-core matmul efficiency, bytes moved and FP32 operations per activation byte, launch seconds
  per layer and micro batch;
- not in the model: each other table's software speed against the v1 table (v0 ran 2020 containers); pair
  errors do not depend on it.
Prints the constants to paste into the module, a Markdown table of measured / predicted samples/s per card,
model and precision, the pair errors (below) of the previous advisor (35 % of the matmul peak: a pair's
speed-up is the ratio of peaks) and of the fit, and a held-out check: fitted on the v1 table only, the pair
errors on the v0 table.

Pair error: for two cards measured in the same table, model, precision and sequence length,
r = predicted speed-up / measured speed-up and the error is max(r, 1/r) - 1.
"""

from __future__ import annotations

import csv
import itertools
import math
import statistics
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from scipy.optimize import least_squares

from pipeline.gpu.catalog import load_catalog
from pipeline.gpu.throughput import Constants, matmul_peak, throughput

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "tests/reference/gpu_throughput.csv"
REFERENCE_TABLE = "Lambda deeplearning-benchmark v1 table (main pytorch/ CSV)"  # the software the model predicts
MODELS = {"bert_base": "bert", "bert_large": "bert_large"}  # Lambda's name -> conf/model option
PRECISION = {"fp16": "16-mixed", "fp32": "32-true"}  # Lambda's -> Lightning's (apex O2 keeps FP32 master weights)
TENSOR_ARCHS = ("volta", "turing", "ampere", "ada", "hopper")
PRIOR_WEIGHT = 0.4
# name: (start, lower bound, upper bound); fitted in log space
SHARED = {"common": (0.5, 0.05, 1.0), "cuda_core_matmul_efficiency": (0.5, 0.05, 1.0),
          "bytes_moved_per_activation_byte": (8.0, 1.0, 100.0), "vector_ops_per_activation_byte": (30.0, 0.1, 1000.0),
          "launch_s_per_layer": (1e-3, 1e-6, 0.1)}
TABLE_SPEED = (1.0, 0.2, 5.0)


def published_rows(path: Path = PUBLISHED) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def model_archs() -> dict:
    return {name: OmegaConf.load(ROOT / "conf/model" / f"{option}.yaml").arch for name, option in MODELS.items()}


def predict(row: dict, constants: Constants, cards: dict, archs: dict) -> float:
    """The model's samples/s for a published row, at its card, precision, sequence length and batch."""
    return throughput(cards[row["catalog_key"]], archs[row["model"]], int(row["seq_len"]), PRECISION[row["precision"]],
                      int(row["batch_size"]), constants=constants).samples_per_s


def pair_errors(rows: list[dict], predicted: list[float]) -> dict[tuple, float]:
    """max(r, 1/r) - 1 per pair of cards in one table, model, precision and sequence length."""
    groups = {}
    for row, speed in zip(rows, predicted):
        key = (row["source"], row["model"], row["precision"], row["seq_len"])
        groups.setdefault(key, []).append((row, speed))
    errors = {}
    for (source, model, precision, _), members in groups.items():
        for (a, pred_a), (b, pred_b) in itertools.combinations(members, 2):
            r = (pred_a / pred_b) / (float(a["samples_per_s"]) / float(b["samples_per_s"]))
            errors[(source, model, precision, a["catalog_key"], b["catalog_key"])] = max(r, 1 / r) - 1
    return errors


class Fit:
    """Least squares over the rows' log(predicted / measured); see the module docstring."""

    def __init__(self, rows: list[dict], cards: dict, archs: dict):
        self.rows, self.cards, self.archs = rows, cards, archs
        self.tables = sorted({row["source"] for row in rows} - {REFERENCE_TABLE})
        self.names = [*TENSOR_ARCHS, *SHARED, *self.tables]
        bounds = {**{arch: SHARED["common"] for arch in TENSOR_ARCHS}, **SHARED,
                  **{table: TABLE_SPEED for table in self.tables}}
        self.start, self.lower, self.upper = (np.log([bounds[name][i] for name in self.names]) for i in range(3))

    def unpack(self, x: np.ndarray) -> tuple[Constants, dict, dict]:
        values = dict(zip(self.names, np.exp(x)))
        constants = Constants(matmul_efficiency={arch: values[arch] for arch in TENSOR_ARCHS},
                              **{name: values[name] for name in SHARED if name != "common"})
        return constants, {table: values[table] for table in self.tables}, values

    def log_errors(self, constants: Constants, speed: dict) -> np.ndarray:
        return np.array([math.log(predict(row, constants, self.cards, self.archs) * speed.get(row["source"], 1.0)
                                  / float(row["samples_per_s"])) for row in self.rows])

    def residuals(self, x: np.ndarray) -> np.ndarray:
        constants, speed, values = self.unpack(x)
        prior = [PRIOR_WEIGHT * math.log(values[arch] / values["common"]) for arch in TENSOR_ARCHS]
        return np.concatenate([self.log_errors(constants, speed), prior])

    def run(self) -> tuple[Constants, dict]:
        result = least_squares(self.residuals, self.start, bounds=(self.lower, self.upper))
        constants, speed, _ = self.unpack(result.x)
        return rounded(constants), speed


def rounded(constants: Constants) -> Constants:
    """Three significant digits, as the module holds them."""
    def r(value):
        return float(f"{value:.3g}")
    return Constants(matmul_efficiency={arch: r(value) for arch, value in constants.matmul_efficiency.items()},
                     cuda_core_matmul_efficiency=r(constants.cuda_core_matmul_efficiency),
                     bytes_moved_per_activation_byte=r(constants.bytes_moved_per_activation_byte),
                     vector_ops_per_activation_byte=r(constants.vector_ops_per_activation_byte),
                     launch_s_per_layer=r(constants.launch_s_per_layer))


def fit(rows: list[dict] | None = None) -> tuple[Constants, dict, dict[str, float]]:
    """(constants, each other table's speed against v1, RMS relative error per architecture) fitted to `rows`."""
    rows = published_rows() if rows is None else rows
    cards, archs = load_catalog(), model_archs()
    constants, speed = Fit(rows, cards, archs).run()
    squares = {}
    for row in rows:
        error = predict(row, constants, cards, archs) * speed.get(row["source"], 1.0) / float(row["samples_per_s"]) - 1
        squares.setdefault(cards[row["catalog_key"]]["arch"], []).append(error**2)
    return constants, speed, {arch: round(math.sqrt(statistics.mean(values)), 2) for arch, values in squares.items()}


def summary(errors: dict[tuple, float]) -> str:
    worst = max(errors, key=errors.get)
    return (f"{len(errors)} pairs: median {statistics.median(errors.values()):.1%}, worst {errors[worst]:.1%} "
            f"({worst[3]} vs {worst[4]}, {worst[1]} {worst[2]}, {short(worst[0])})")


def short(source: str) -> str:
    return source.split(" table")[0].rsplit(" ", 1)[-1]  # "... v1 table (...)" -> "v1"


def markdown_table(rows: list[dict], predicted: list[float]) -> str:
    columns = [(model, precision) for model in MODELS for precision in PRECISION]
    cells = {}
    for row, speed in zip(rows, predicted):
        key = (short(row["source"]), row["catalog_key"])
        cells.setdefault(key, {})[(row["model"], row["precision"])] = \
            f"{float(row['samples_per_s']):g} / {speed:.0f} (b {row['batch_size']})"
    lines = ["| table | card | " + " | ".join(f"{model} {precision}" for model, precision in columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for (table, card), by_column in cells.items():
        lines.append(f"| {table} | {card} | " + " | ".join(by_column.get(column, "-") for column in columns) + " |")
    return "\n".join(lines)


def main() -> None:
    rows, cards, archs = published_rows(), load_catalog(), model_archs()
    constants, speed, error = fit(rows)
    print("# pipeline/gpu/throughput.py\n"
          f"FITTED = {constants!r}\nFIT_ERROR = {error!r}\n"
          f"# not in the model: speed of each other table's software against v1: "
          + ", ".join(f"{short(table)} {value:.2f}" for table, value in speed.items()))
    predicted = [predict(row, constants, cards, archs) for row in rows]
    print("\nmeasured / predicted samples/s (micro batch), seq 384; predictions for another table than v1 "
          "include its software's speed (above)\n")
    print(markdown_table(rows, [p * speed.get(row["source"], 1.0) for row, p in zip(rows, predicted)]))
    peaks = [matmul_peak(cards[row["catalog_key"]], PRECISION[row["precision"]])[0] for row in rows]
    print(f"\nprevious advisor (35 % of the matmul peak): {summary(pair_errors(rows, peaks))}")
    print(f"this model: {summary(pair_errors(rows, predicted))}")
    v1 = [row for row in rows if row["source"] == REFERENCE_TABLE]
    held_out = [row for row in rows if row["source"] != REFERENCE_TABLE]
    v1_constants, _, _ = fit(v1)
    print(f"held out: fitted on the v1 table only ({v1_constants!r}),\n  on the v0 table: "
          + summary(pair_errors(held_out, [predict(row, v1_constants, cards, archs) for row in held_out])))


if __name__ == "__main__":
    main()

"""`python -m pipeline.advise model=bert [model.max_seq_len=512 ...] [--out DIR]`: which card do I need?

For every catalog card: does the model fit, with which micro batch and precision, the estimated peak
memory, and the estimated training samples/s with its expected error and what bounds it. The estimate is
pipeline/gpu/throughput.py's model, fitted to Lambda's published BERT fine-tuning runs (docs/benchmarks.md,
"GPU throughput model against published measurements"). Prints a table and writes it, with a chart
grouped by series, to DIR (default: reports/advise/ under the current directory).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from pipeline.config.compose import compose_config
from pipeline.core.atomic import write_text
from pipeline.core.errors import PipelineError, run_main
from pipeline.gpu.catalog import cc_value, load_catalog
from pipeline.gpu.detect import NO_GPU
from pipeline.gpu.policy import processes, resolve_plan
from pipeline.gpu.throughput import throughput
from pipeline.plan import fixed_length

OUT_DIR = Path("reports/advise")
SERIES = ("GTX 10", "RTX 20", "RTX 30", "RTX 40", "RTX 50", "datacenter")
CONSUMER_SERIES = {"pascal": "GTX 10", "turing": "RTX 20", "ampere": "RTX 30", "ada": "RTX 40", "blackwell": "RTX 50"}
COLUMNS = ("card", "series", "VRAM GB", "CC", "fits", "precision", "micro batch", "checkpointing", "est. peak GiB",
           "est. samples/s", "±", "bound by", "matmul peak TFLOPS", "constants")


def series(card: dict) -> str:
    """GeForce and TITAN cards by generation (a TITAN with its generation); everything else is datacenter."""
    consumer = any(brand in (card["name"] or "") for brand in ("GeForce", "TITAN"))
    return CONSUMER_SERIES.get(card["arch"], "datacenter") if consumer else "datacenter"


def advise(cfg: DictConfig) -> list[dict]:
    """One row per catalog card, grouped by series, then by compute capability and FP32 TFLOPS (unknown last)."""
    cards = sorted(load_catalog().items(), key=lambda item: (SERIES.index(series(item[1])),
                                                             cc_value(item[1]["compute_capability"]),
                                                             item[1]["fp32_tflops"] or float("inf")))
    return [estimate_card(key, card, cfg) for key, card in cards]


def estimate_card(key: str, card: dict, cfg: DictConfig) -> dict:
    row = {"card": key, "series": series(card), "vram_gb": card["vram_gb"], "cc": card["compute_capability"],
           "fits": False, "precision": None, "micro_batch": None, "checkpointing": None, "peak_gib": None,
           "samples_per_s": None, "error": None, "bound": None, "matmul_peak": None, "constants": None}
    try:
        plan = resolve_plan(NO_GPU, OmegaConf.create({**card, "plan_only": True}), cfg.model, cfg.train,
                            cfg.finetune, cfg.strategy)
    except PipelineError as err:
        if err.code != "plan-does-not-fit":
            raise
        return row
    settings = plan["settings"]
    row.update(fits=True, precision=settings["precision"], micro_batch=settings["micro_batch_size"],
               checkpointing=settings["gradient_checkpointing"], peak_gib=plan["memory_gib"]["total"])
    speed = throughput(card, cfg.model.arch, cfg.model.max_seq_len, settings["precision"], settings["micro_batch_size"],
                       settings["accumulate_grad_batches"], settings["gradient_checkpointing"], cfg.finetune)
    if speed is not None:
        row.update(samples_per_s=round(processes(settings) * speed.samples_per_s, 1), error=speed.error,
                   bound=speed.bound(), matmul_peak=speed.matmul_peak, constants=speed.basis)
    return row


def table(rows: list[dict], cfg: DictConfig) -> str:
    arch, strategy = cfg.model.arch, cfg.strategy
    lines = [f"{cfg.model.name} ({arch.num_parameters / 1e6:.1f}M params), max_seq_len {cfg.model.max_seq_len}, "
             f"global batch {cfg.train.global_batch_size}, strategy {strategy.name} on {strategy.devices} device(s) x "
             f"{strategy.num_nodes} node(s). est. samples/s (all devices): throughput model fitted to Lambda's "
             "published BERT fine-tuning runs (apex AMP, eager attention; pipeline/gpu/throughput.py); "
             "± = the fit's RMS error for the card's architecture; bound by = the part of the time that is "
             "largest (matmul, memory traffic, vector = elementwise arithmetic on the FP32 cores, overhead = "
             "launches and the optimizer step)",
             "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        error = None if row["error"] is None else f"±{row['error']:.0%}"
        cells = [row["card"], row["series"], row["vram_gb"], row["cc"], "yes" if row["fits"] else "no",
                 row["precision"], row["micro_batch"], row["checkpointing"], row["peak_gib"], row["samples_per_s"],
                 error, row["bound"], row["matmul_peak"], row["constants"]]
        lines.append("| " + " | ".join("-" if cell is None else str(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def chart(rows: list[dict], cfg: DictConfig, path: Path) -> None:
    """Horizontal bars of the estimate with the fit's error as a range, one colour and block per series."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.28 * len(rows) + 0.3 * len(SERIES) + 1.5))
    y, ticks, labels = 0, [], []
    colours = dict(zip(SERIES, plt.get_cmap("tab10").colors))
    for name in SERIES:
        members = [row for row in rows if row["series"] == name]
        for row in members:
            speed = row["samples_per_s"] or 0
            ax.barh(y, speed, xerr=speed * (row["error"] or 0), color=colours[name], capsize=2,
                    hatch="//" if row["checkpointing"] else None, label=name if row is members[0] else None)
            if not row["fits"] or not speed:
                ax.text(0, y, " does not fit" if not row["fits"] else " no estimate (figures unknown)",
                        va="center", fontsize=8)
            ticks.append(y)
            labels.append(row["card"])
            y += 1
        y += 0.6 if members else 0
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("estimated training samples/s (range: the fit's error); hatched = needs checkpointing")
    ax.set_title(f"{cfg.model.name}, max_seq_len {cfg.model.max_seq_len}, global batch {cfg.train.global_batch_size}")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(add_help=False)  # --help: run_main prints this module's docstring
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    options, overrides = parser.parse_known_args(sys.argv[1:])
    cfg = fixed_length(compose_config(overrides))  # auto: planned at the model's longest input
    rows = advise(cfg)
    text = table(rows, cfg)
    stem = options.out / f"{cfg.model.name}_seq{cfg.model.max_seq_len}"
    write_text(stem.with_suffix(".md"), text)
    chart(rows, cfg, stem.with_suffix(".png"))
    print(text + f"\nwritten: {stem}.md, {stem}.png")


if __name__ == "__main__":
    run_main(main)

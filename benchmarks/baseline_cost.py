#!/usr/bin/env python3
"""What the baseline stage costs on large files, before issue 27 (commit BEFORE) and now: wall time and peak
memory of `preprocess` and of `baseline` (TF-IDF + logistic regression, and the 5 out-of-fold fits of the label
check), each as its own process, as `dvc repro` runs them.

Files of N rows are built from real texts: each row joins two texts of the same class, drawn with a fixed seed
(distinct pairs, so cleaning drops none): English from AG News (ag_news_test.csv, 4 classes) and Chinese from
Toutiao headlines (chinese_headlines.csv, 15 classes), both written by benchmarks/real_sets.py. BBC News is
the packaged set as it is.

    .venv/bin/python benchmarks/baseline_cost.py [--rows 50000,200000,1000000] [--before-max 200000]
        [--langs en,zh] [--no-bbc]      (prints a Markdown table; BEFORE runs only up to --before-max rows)
"""
from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from common import ROOT, compose_params, cpu_name, pipeline_env

BEFORE = "75b7fd8"  # the last commit before issue 27
SOURCES = {"en": ROOT / ".cache/real_sets/ag_news_test.csv", "zh": ROOT / ".cache/real_sets/chinese_headlines.csv"}


def build(lang: str, rows: int, out: Path) -> Path:
    """A CSV of `rows` rows, each two texts of one class from the source joined by a space."""
    source = pd.read_csv(SOURCES[lang], dtype=str, keep_default_na=False)
    by_class = {label: group["text"].tolist() for label, group in source.groupby("label") if len(group) >= 10}
    rng, seen, texts, labels = random.Random(0), set(), [], []
    classes = sorted(by_class)
    while len(texts) < rows:
        label = rng.choice(classes)
        pair = (rng.randrange(len(by_class[label])), rng.randrange(len(by_class[label])))
        if pair[0] == pair[1] or (label, pair) in seen:
            continue
        seen.add((label, pair))
        texts.append(f"{by_class[label][pair[0]]} {by_class[label][pair[1]]}")
        labels.append(label)
    path = out / f"{lang}_{rows}.csv"
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
    return path


def timed(clone: Path, stage: str) -> tuple[float, float]:
    """(seconds, peak GB) of `python -m pipeline.stages.STAGE` in the clone, by GNU time."""
    result = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", f"pipeline.stages.{stage}"], cwd=clone,
                            env=pipeline_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{stage} failed in {clone}:\n{result.stderr[-3000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", result.stderr).group(1)
    seconds = sum(float(part) * 60 ** i for i, part in enumerate(reversed(wall.split(":"))))
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    return seconds, peak_kb / 1024 ** 2


def measure(commit: str, overrides: list[str], tmp: Path) -> dict:
    clone = tmp / f"clone-{commit}"
    if not clone.exists():
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "checkout", "-q", commit], cwd=clone, check=True)
    subprocess.run(["rm", "-rf", "data/processed", "reports", ".cache"], cwd=clone, check=True)
    (clone / "reports").mkdir()
    # the length fixed as before MiniLM's default became auto: auto's pass over every training text would add to
    # preprocess's time, and this measures what the baseline costs
    compose_params(clone, ["gpu=cpu", "model.max_seq_len=128", *overrides])
    found = {}
    for stage in ("preprocess", "baseline"):
        found[stage] = timed(clone, stage)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="50000,200000,1000000")
    parser.add_argument("--before-max", type=int, default=200_000)
    parser.add_argument("--langs", default="en,zh")
    parser.add_argument("--no-bbc", action="store_true", help="leave out the packaged BBC News")
    args = parser.parse_args()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(f"CPU: {cpu_name()}; now = HEAD {head}, before = {BEFORE}")
    print("| file | version | preprocess s | preprocess peak GB | baseline s | baseline peak GB |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        tmp = Path(tmp)
        cases = [] if args.no_bbc else [("bbc_news", ["data=bbc_news"], 0)]
        for lang in args.langs.split(","):
            for rows in map(int, args.rows.split(",")):
                path = build(lang, rows, tmp)
                cases.append((f"{lang} {rows:,} rows", ["data=csv", f"data.path={path}"], rows))
        for name, overrides, rows in cases:
            for version, commit in (("before", BEFORE), ("now", head)):
                if version == "before" and rows > args.before_max:
                    continue
                extra = ["data.unreadable=warn"] if version == "now" and name.startswith("zh") else []
                found = measure(commit, overrides + extra, tmp)
                (p_s, p_gb), (b_s, b_gb) = found["preprocess"], found["baseline"]
                print(f"| {name} | {version} | {p_s:.0f} | {p_gb:.2f} | {b_s:.0f} | {b_gb:.2f} |", flush=True)


if __name__ == "__main__":
    main()

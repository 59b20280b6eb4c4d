"""The scheduled-retraining case, before and after issue 28: train on the first 80 % of a real file, then
`python -m pipeline.retrain` on the whole file; which test rows each model was scored on, and the decision.

    .venv/bin/python benchmarks/retrain_contest.py [--set ag_news_test] [--model tiny] [--out FILE]

For BEFORE (the last commit before issue 28) and HEAD, in a clone of each: data/news.csv holds the first 80 %
of the set's rows (file order), params are composed with gpu=cpu, model=MODEL, data=csv and SETTINGS, and
`dvc repro` makes the first champion (v1); then the other 20 % are appended and `python -m pipeline.retrain` runs. The
script counts on its own, from the two runs' data/processed, how many of the retrain's test rows v1 trained on,
and scores v1 (as the registry serves it) on those rows and on the others, to show what they are worth to it.
Each result is one JSON line appended to --out; --table prints them as Markdown.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
from datasets import load_from_disk
from sklearn.metrics import f1_score

from common import ROOT, clone_of_head, compose_params, cpu_name, pipeline_env, run_in

BEFORE = "4390277"  # main's last commit before issue 28
FIRST_SHARE = 0.8
SETTINGS = ["train.max_epochs=3", "eval.gate.threshold=0"]  # quick, and v1 passes the gate: the contest is the point
NAME = "text-classifier-csv-news"


def split_texts(clone: Path, split: str) -> pd.DataFrame:
    data = load_from_disk(str(clone / "data/processed/dataset" / split))
    labels = json.loads((clone / "data/processed/labels.json").read_text())
    return pd.DataFrame({"text": data["text"][:], "label": [labels[i] for i in data["labels"][:]]})


def champion_scores(clone: Path, test: pd.DataFrame, trained: set[str]) -> dict:
    """v1, as the registry serves it, on the test rows it trained on and on the others."""
    from pipeline.serving.inference import load_registered

    mlflow.set_tracking_uri(f"sqlite:///{clone / 'mlflow.db'}")
    predicted = load_registered(f"models:/{NAME}/1").predict(test["text"].tolist())["label"].astype(str).tolist()
    seen = test["text"].isin(trained).tolist()
    scores = {}
    for name, keep in (("trained_on", seen), ("never_seen", [not s for s in seen])):
        truth = [label for label, k in zip(test["label"], keep) if k]
        guess = [label for label, k in zip(predicted, keep) if k]
        scores[name] = round(f1_score(truth, guess, average="macro"), 4) if truth else None
    return scores


def scenario(code: str, frame: pd.DataFrame, model: str) -> dict:
    with clone_of_head("bench-retrain-contest-") as clone:
        if code != "HEAD":
            run_in(clone, ["git", "checkout", "-q", code])
        (clone / "data").mkdir(exist_ok=True)
        first = frame.iloc[:int(len(frame) * FIRST_SHARE)]
        first.to_csv(clone / "data/news.csv", index=False)
        compose_params(clone, ["gpu=cpu", f"model={model}", "data=csv", "data.path=data/news.csv", *SETTINGS])
        started = time.perf_counter()
        run_in(clone, [sys.executable, "-m", "dvc", "repro"])
        trained = set(split_texts(clone, "train")["text"])
        first_test = len(split_texts(clone, "test"))

        frame.to_csv(clone / "data/news.csv", index=False)
        retrain = subprocess.run([sys.executable, "-m", "pipeline.retrain"], cwd=clone, env=pipeline_env(),
                                 capture_output=True, text=True)
        if retrain.returncode not in (0, 3):
            raise SystemExit(f"retrain failed in {clone}:\n{retrain.stdout[-2000:]}\n{retrain.stderr[-3000:]}")
        test = split_texts(clone, "test")
        metrics = json.loads((clone / "reports/metrics.json").read_text())
        decision = json.loads((clone / "reports/registry.json").read_text())
        return {"code": code, "rows": [len(first), len(frame)], "first_test_rows": first_test,
                "retrain_test_rows": len(test), "v1_trained_on_test_rows": int(test["text"].isin(trained).sum()),
                "v1_f1": champion_scores(clone, test, trained),
                "metrics": {key: value for key, value in metrics.items()
                            if key.startswith(("champion/", "compared/")) or key == "test/f1_macro"},
                "promoted": decision["champion"], "reason": decision["reason"],
                "seconds": round(time.perf_counter() - started)}


def table(path: Path) -> str:
    lines = ["| code | v2's test rows | of them, v1 trained on | v1 scored on | v1 F1: rows it trained on / never saw "
             "| v1's score | v2's score | promoted | reason |", "|---" * 9 + "|"]
    for result in map(json.loads, path.read_text().splitlines()):
        m = result["metrics"]
        scored_on = int(m.get("champion/compared_rows", result["retrain_test_rows"]))
        ours = m.get("compared/test/f1_macro", m["test/f1_macro"])
        lines.append(f"| {result['code']} | {result['retrain_test_rows']} | {result['v1_trained_on_test_rows']} | "
                     f"{scored_on} | {result['v1_f1']['trained_on']} / {result['v1_f1']['never_seen']} | "
                     f"{m.get('champion/test/f1_macro')} | {ours} | {result['promoted']} | {result['reason']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="ag_news_test", help="a CSV built by benchmarks/real_sets.py")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--out", type=Path, default=Path("retrain_contest.jsonl"))
    parser.add_argument("--table", type=Path, help="print the Markdown table of this results file and stop")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    frame = pd.read_csv(ROOT / ".cache/real_sets" / f"{args.set}.csv", dtype=str, keep_default_na=False)
    frame = frame[["text", "label"]]  # the file's own split column, if any, is ignored: the case without one
    print(f"Machine: {cpu_name()}; {args.set}, model={args.model}", file=sys.stderr)
    for code in (BEFORE, "HEAD"):
        result = {"set": args.set, "model": args.model, **scenario(code, frame, args.model)}
        with args.out.open("a") as handle:
            handle.write(json.dumps(result) + "\n")
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

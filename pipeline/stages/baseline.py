"""Stage baseline: a classical model on the same split, in seconds. TF-IDF + logistic regression's
validation and test scores (reports/baseline.json: evaluate reports them beside the transformer's, resolve
makes the validation score the default gate for data other than the packaged set) and the training examples
whose label it doubts (reports/suspect_labels.csv, a report only).

The gate and training never see the test split; this stage reads it for the baseline's own score.
"""

from __future__ import annotations

from pipeline.config.params import load_params
from pipeline.core import paths
from pipeline.core.atomic import write_csv, write_json
from pipeline.core.errors import run_main
from pipeline.core.outputs import read_json
from pipeline.data.loader import split_examples
from pipeline.evaluation.baseline import fitting_rows, tfidf_baseline
from pipeline.evaluation.suspects import fields, suspect_labels


def baseline(seed: int) -> tuple[dict, list[dict] | None]:
    """Write reports/baseline.json and reports/suspect_labels.csv; returns (scores, suspects: None where a
    label has too few training rows to check, and then the CSV has only its header). Both fit on at most
    FIT_ROWS training rows (a sample of a larger set: baseline/train_rows says how many)."""
    labels = read_json(paths.LABELS)
    (texts, targets), validation, test = (split_examples(split) for split in ("train", "validation", "test"))
    rows = fitting_rows(targets, seed=seed)
    train = ([texts[i] for i in rows], targets[rows])
    scores = {**tfidf_baseline(train, validation, test, len(labels)), "baseline/train_rows": len(rows)}
    suspects = suspect_labels(*train, labels, seed)
    write_csv(paths.SUSPECT_LABELS, suspects or [], fields(texts))
    write_json(paths.BASELINE, scores)
    return scores, suspects


def main() -> None:
    scores, suspects = baseline(load_params("seed").seed)
    doubted = (f"{len(suspects)} training label(s) look wrong" if suspects is not None else
               "labels not checked (label sets, or a label with fewer than 2 training rows)")
    print(f"baseline: TF-IDF + logistic regression val macro F1 {scores['baseline/val/f1_macro']}, test "
          f"{scores['baseline/test/f1_macro']}; {doubted}: {paths.SUSPECT_LABELS}")


if __name__ == "__main__":
    run_main(main)

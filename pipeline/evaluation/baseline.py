"""A classical baseline beside the transformer: TF-IDF + logistic regression (scikit-learn) fitted on the same
training split in seconds, scored on validation and test, so a user sees whether fine-tuning earned its cost;
for data other than the packaged set, its validation score is the default quality gate (gpu.policy)."""

from __future__ import annotations

import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from pipeline.evaluation.metrics import macro_f1


def tfidf_model() -> Pipeline:
    """Word 1-2-gram TF-IDF (sublinear counts) + logistic regression with balanced class weights."""
    return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
                         LogisticRegression(max_iter=1000, class_weight="balanced"))


def tfidf_baseline(train: tuple[list[str], torch.Tensor], validation: tuple[list[str], torch.Tensor],
                   test: tuple[list[str], torch.Tensor], n: int) -> dict[str, float]:
    """`baseline/{val,test}/f1_macro` and `baseline/{val,test}/accuracy` of the model fitted on `train`."""
    model = tfidf_model().fit(train[0], train[1].numpy())
    scores = {}
    for name, (texts, targets) in (("val", validation), ("test", test)):
        preds = torch.from_numpy(model.predict(texts)) if texts else torch.zeros(0, dtype=torch.long)
        scores[f"baseline/{name}/f1_macro"] = macro_f1(preds, targets, n)
        scores[f"baseline/{name}/accuracy"] = round(float((preds == targets).float().mean()), 6) if texts else 0.0
    return scores

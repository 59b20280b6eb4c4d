"""A classical baseline beside the transformer: TF-IDF + logistic regression (scikit-learn) fitted on the same
training split in seconds, scored on validation and test, so a user sees whether fine-tuning earned its cost."""

from __future__ import annotations

import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from pipeline.evaluation.metrics import macro_f1


def tfidf_baseline(train: tuple[list[str], torch.Tensor], validation: tuple[list[str], torch.Tensor],
                   test: tuple[list[str], torch.Tensor], n: int) -> dict[str, float]:
    """`baseline/val/f1_macro` and `baseline/test/f1_macro` of word 1-2-gram TF-IDF + logistic regression."""
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
                          LogisticRegression(max_iter=1000, class_weight="balanced"))
    model.fit(train[0], train[1].numpy())
    return {f"baseline/{name}/f1_macro": macro_f1(torch.from_numpy(model.predict(texts)), targets, n)
            for name, (texts, targets) in (("val", validation), ("test", test))}

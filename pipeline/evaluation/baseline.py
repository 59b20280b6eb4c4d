"""A classical baseline beside the transformer: TF-IDF + logistic regression (scikit-learn) fitted on the same
training split in seconds, scored on validation and test, so a user sees whether fine-tuning earned its cost;
for data other than the packaged set, its validation score is the default quality gate (gpu.policy). For label
sets (task=multi_label), one logistic regression per label (one-vs-rest), each label's threshold tuned on the
validation split as evaluate tunes the transformer's."""

from __future__ import annotations

import torch
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline, make_pipeline

from pipeline.data.pairs import every_text
from pipeline.data.scripts import unspaced
from pipeline.evaluation.metrics import macro_f1
from pipeline.evaluation.thresholds import decide, tune_thresholds


MAX_FEATURES = 200_000  # the most frequent n-grams kept: bounds time and memory on a large corpus
FIT_ROWS = 50_000  # training rows the baseline (and the label check) fits on at most: a sample of a larger set,
                   # so a file of a million rows costs what one of 50,000 does (docs/benchmarks.md)


def tfidf_model(texts: list, multi_label: bool = False) -> Pipeline:
    """TF-IDF (sublinear counts) + logistic regression with balanced class weights, on the n-grams that carry
    meaning in these texts (`analyzer`); for pairs of texts, on PairFeatures; for label sets, one per label."""
    vectorizer = TfidfVectorizer(**analyzer(every_text(texts)), sublinear_tf=True, max_features=MAX_FEATURES)
    features = PairFeatures(vectorizer) if texts and isinstance(texts[0], tuple) else vectorizer
    classifier = LogisticRegression(max_iter=1000, class_weight="balanced")
    return make_pipeline(features, OneVsRestClassifier(classifier) if multi_label else classifier)


class PairFeatures(TransformerMixin, BaseEstimator):
    """A pair of texts as one TF-IDF vectorizer (fitted on both sides) reads it: each text's vector, their
    element-wise product (the n-grams both share), their absolute difference (those only one has) and the
    product's sum (the two vectors' cosine similarity, as TF-IDF rows are unit length; standardised on the
    training pairs, so that one column weighs as much as the thousands of n-grams beside it), side by side, so
    a linear model sees both texts and how far they agree."""

    def __init__(self, vectorizer: TfidfVectorizer | None = None):
        self.vectorizer = vectorizer

    def fit(self, pairs: list[tuple[str, str]], y=None) -> "PairFeatures":
        self.vectorizer_ = clone(self.vectorizer).fit(every_text(pairs))
        similarity = self._vectors(pairs)[2].sum(axis=1)
        self.scale_ = (float(similarity.mean()), float(similarity.std()) or 1.0)
        return self

    def transform(self, pairs: list[tuple[str, str]]):
        first, second, shared = self._vectors(pairs)
        similarity = (shared.sum(axis=1) - self.scale_[0]) / self.scale_[1]
        return sparse.hstack([first, second, shared, abs(first - second), similarity]).tocsr()

    def _vectors(self, pairs: list[tuple[str, str]]):
        first = self.vectorizer_.transform([text for text, _ in pairs])
        second = self.vectorizer_.transform([text for _, text in pairs])
        return first, second, first.multiply(second)


def analyzer(texts: list[str]) -> dict:
    """TfidfVectorizer's analyzer settings: character 1-3-grams for text mostly in scripts written without
    spaces between words (Chinese, Japanese, Thai: data.scripts), where a whole sentence would be one "word";
    else word 1-2-grams, or character 2-4-grams where the texts have no word of two letters or more (digits,
    symbols, emoji)."""
    if unspaced(texts):
        return {"analyzer": "char", "ngram_range": (1, 3)}
    words = {"ngram_range": (1, 2)}
    if any(TfidfVectorizer(**words).build_analyzer()(text) for text in texts):
        return words
    return {"analyzer": "char_wb", "ngram_range": (2, 4)}


def tfidf_baseline(train: tuple[list, torch.Tensor], validation: tuple[list, torch.Tensor],
                   test: tuple[list, torch.Tensor], n: int) -> dict[str, float]:
    """`baseline/{val,test}/f1_macro`, `.../f1_micro` and `.../accuracy` (label sets: whole sets right) of the model
    fitted on `train` (label ids, or 0/1 rows of label sets)."""
    multi_label = train[1].dim() == 2
    model = tfidf_model(train[0], multi_label).fit(train[0], train[1].numpy())
    if multi_label:
        thresholds = tune_thresholds(model.predict_proba(validation[0]), validation[1].numpy())
    scores = {}
    for name, (texts, targets) in (("val", validation), ("test", test)):
        if not texts:
            preds = torch.zeros_like(targets)
        elif multi_label:
            preds = torch.from_numpy(decide(model.predict_proba(texts), thresholds))
        else:
            preds = torch.from_numpy(model.predict(texts)).long()
        scores[f"baseline/{name}/f1_macro"] = macro_f1(preds, targets, n)
        scores[f"baseline/{name}/f1_micro"] = macro_f1(preds, targets, n, average="micro")
        right = (preds == targets).all(dim=1) if multi_label else preds == targets
        scores[f"baseline/{name}/accuracy"] = round(float(right.float().mean()), 6) if texts else 0.0
    return scores


def fitting_rows(targets: torch.Tensor, limit: int = FIT_ROWS, seed: int = 0) -> list[int]:
    """The training rows to fit on: all of them up to `limit`, else a seeded sample of about `limit` that keeps
    each class's share (rounded up, so every class keeps a row), in the split's order."""
    if len(targets) <= limit:
        return list(range(len(targets)))
    generator, fraction, chosen = torch.Generator().manual_seed(seed), limit / len(targets), []
    if targets.dim() == 2:  # label sets: a seeded sample, and a row of each label it would lack
        order = torch.randperm(len(targets), generator=generator)
        chosen = order[:limit].tolist()
        for label in torch.nonzero(targets[chosen].sum(dim=0) == 0).flatten().tolist():
            chosen.append(next(row for row in order.tolist() if targets[row, label]))
        return sorted(chosen)
    for label in torch.unique(targets):
        rows = torch.nonzero(targets == label).flatten()
        keep = -(-int(len(rows) * fraction * 1_000_000) // 1_000_000)  # ceil without float noise
        chosen += rows[torch.randperm(len(rows), generator=generator)[:max(keep, 1)]].tolist()
    return sorted(chosen)

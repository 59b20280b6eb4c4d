"""The unlabelled texts masked-language-model pretraining reads (`pretrain.corpus`)."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.errors import PipelineError


def corpus_texts(corpus: str) -> list[str]:
    """`train`: the training split's texts; otherwise a .txt file with one text per line."""
    if corpus == "train":
        from pipeline.data.loader import split_texts
        from pipeline.data.pairs import every_text

        return every_text(split_texts("train"))
    path = Path(corpus)
    if not path.is_file():
        raise PipelineError("pretrain-corpus-missing", f"pretraining corpus '{corpus}' not found", "params.yaml pretrain.corpus",
                            "use `train` or a .txt file with one text per line (and set pretrain.watch to it)")
    texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise PipelineError("pretrain-corpus-empty", "the pretraining corpus has no text", str(path), "add one text per line")
    return texts

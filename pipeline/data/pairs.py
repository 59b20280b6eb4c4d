"""Pairs of texts (data.text_pair_column: paraphrase, inference, question and answer): both texts go through the
model's tokenizer as a pair, so it sees them as two segments ([SEP] and token type ids where it has them), cut
longer text first (text_windows.longest_first). What reads a pair, and the texts of an example either way."""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig
from transformers import PreTrainedTokenizerBase

from pipeline.core.errors import PipelineError
from pipeline.data.normalise import PAIR


def check_pair_settings(data: DictConfig, model: DictConfig) -> None:
    """A one-line error where the data has pairs and a setting reads one text only."""
    if not data.get("text_pair_column"):
        return
    if data.source in ("folder", "packaged"):
        raise PipelineError("data-pairs-unsupported", f"data.source={data.source} reads one text a file, but "
                            "data.text_pair_column is set", "params.yaml data.text_pair_column",
                            "give the pairs as a csv, jsonl, parquet or Hugging Face dataset with two text columns")
    if model.source == "scratch":
        raise PipelineError("data-pairs-unsupported", f"model {model.name} is trained from scratch and reads one text "
                            "(its tokenizer has no pair template), but data.text_pair_column is set",
                            "params.yaml model.name", "use a pretrained encoder: -S model=minilm (the default), bert, "
                            "roberta, ...")
    if data.long_text != "truncate":
        raise PipelineError("data-pairs-unsupported", f"data.long_text={data.long_text} cuts one text, but "
                            "data.text_pair_column is set (a pair is cut longer text first)",
                            "params.yaml data.long_text", "set -S data.long_text=truncate")


def check_pair_tokenizer(tokenizer: PreTrainedTokenizerBase, model: DictConfig) -> None:
    """A one-line error where the model's tokenizer would run a pair's two texts together: no token between them
    and no token type ids (GPT-2)."""
    marked = tokenizer.num_special_tokens_to_add(pair=True) > tokenizer.num_special_tokens_to_add(pair=False)
    if not marked and "token_type_ids" not in tokenizer.model_input_names:
        raise PipelineError("data-pairs-unsupported", f"model {model.name}'s tokenizer marks no boundary between the "
                            "two texts of a pair (no separator token, no token type ids)", "params.yaml model.name",
                            "use an encoder made for pairs: -S model=minilm (the default), bert, roberta, deberta_v3, ...")


def text_columns(columns) -> list[str]:
    """What one example reads, of these column names (a frame's, a Dataset's or a batch's keys): its text, and
    its pair text where the data has pairs."""
    return ["text", PAIR] if PAIR in columns else ["text"]


def examples(table) -> list:
    """Each row's text, or (text, text_pair) where `table` (a pandas frame or a datasets Dataset) has pairs;
    columns read whole (per row is slow on a large Dataset)."""
    columns = text_columns(table.column_names if hasattr(table, "column_names") else table.columns)
    texts = [list(table[column][:]) for column in columns]
    return list(zip(*texts)) if len(texts) > 1 else texts[0]


def example_key(item) -> str:
    """One string for an example, to hash: its text, or a pair's two texts joined by NUL (so ("ab", "c") and
    ("a", "bc") differ). The split's buckets and the champion's training-row record both read it."""
    return item if isinstance(item, str) else "\0".join(item)


def every_text(items: Sequence) -> list[str]:
    """The texts of examples, both of each pair: what the script mix and the readability check read."""
    return [text for item in items for text in (item if isinstance(item, tuple) else (item,))]


def text_fields(item) -> dict[str, str]:
    """An example's text columns for a report row: `text`, and `text_pair` for a pair."""
    return dict(zip(("text", PAIR), item)) if isinstance(item, tuple) else {"text": item}


def text_columns_of(items: Sequence) -> list[str]:
    """The text columns of a report on these examples."""
    return ["text", PAIR] if items and isinstance(items[0], tuple) else ["text"]

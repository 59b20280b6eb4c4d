"""resolve's decisions for every catalog card, and the memory estimate behind them."""

import importlib.util

import pytest
from omegaconf import OmegaConf

from conftest import ROOT
from pipeline.core.errors import PipelineError
from pipeline.gpu import memory
from pipeline.gpu.catalog import load_catalog
from pipeline.gpu.detect import NO_GPU
from pipeline.gpu.policy import resolve_plan
from pipeline.plan import fixed_length, plan_for

CATALOG = load_catalog(ROOT / "conf")
BY_ARCH = {arch: sorted(key for key, card in CATALOG.items() if card["arch"] == arch)
           for arch in {card["arch"] for card in CATALOG.values()}}
EXPECTED_PRECISION = {"pascal": "32-true", "volta": "16-mixed", "turing": "16-mixed", "ampere": "bf16-mixed",
                      "ada": "bf16-mixed", "hopper": "bf16-mixed", "blackwell": "bf16-mixed"}


def card_plan(compose, card, *overrides):
    """The plan `python -m pipeline.plan` prints (model.max_seq_len=auto planned at the model's positions)."""
    return plan_for(fixed_length(compose(f"gpu={card}", *overrides)))


@pytest.mark.parametrize("arch", sorted(EXPECTED_PRECISION))
def test_every_card_of_an_architecture_gets_its_precision(compose, arch):
    assert BY_ARCH[arch], f"no {arch} card in the catalog"
    for card in BY_ARCH[arch]:
        plan = card_plan(compose, card, "model=bert")
        assert plan["settings"]["precision"] == EXPECTED_PRECISION[arch], card
        assert plan["settings"]["accelerator"] == "gpu" and plan["target"] == card


def test_no_card_below_cc_8_gets_bf16_or_tf32(compose):
    for key, card in CATALOG.items():
        settings = card_plan(compose, key)["settings"]
        if float(card["compute_capability"]) < 8.0:
            assert "bf16" not in settings["precision"] and settings["matmul_precision"] == "highest", key


def test_gtx1080ti_gets_fp32_and_no_compile_even_when_asked(compose):
    settings = card_plan(compose, "gtx1080ti", "train.compile=true")["settings"]
    assert settings["precision"] == "32-true" and settings["compile"] is False


@pytest.mark.parametrize("card, precision", [("rtx2080ti", "16-mixed"), ("rtx3090", "bf16-mixed"),
                                             ("rtx4090", "bf16-mixed"), ("a100_80gb", "bf16-mixed"),
                                             ("h100_sxm", "bf16-mixed")])
def test_named_cards(compose, card, precision):
    assert card_plan(compose, card)["settings"]["precision"] == precision


def test_compile_is_opt_in_on_cc7_and_on_from_cc8(compose):
    assert card_plan(compose, "rtx2080ti")["settings"]["compile"] is False
    assert card_plan(compose, "rtx2080ti", "train.compile=true")["settings"]["compile"] is True
    assert card_plan(compose, "a100_40gb")["settings"]["compile"] is True
    assert card_plan(compose, "a100_40gb", "train.compile=false")["settings"]["compile"] is False


def test_flash_attention_only_from_cc8_with_16bit(compose):
    assert "flash" in card_plan(compose, "rtx3090")["reasons"]["attention"]
    assert "memory_efficient" in card_plan(compose, "t4")["reasons"]["attention"]
    assert "memory_efficient" in card_plan(compose, "gtx1080")["reasons"]["attention"]


def test_bert_base_seq512_on_6gb_cards_shrinks_the_micro_batch_and_keeps_the_global_batch(compose):
    roomy = card_plan(compose, "rtx3090", "model=bert", "model.max_seq_len=512", "train.global_batch_size=32")
    assert roomy["settings"]["micro_batch_size"] == 32
    for card in ("gtx1060", "rtx2060"):
        plan = card_plan(compose, card, "model=bert", "model.max_seq_len=512", "train.global_batch_size=32")
        settings = plan["settings"]
        assert settings["micro_batch_size"] < 32
        assert settings["micro_batch_size"] * settings["accumulate_grad_batches"] == 32
        assert plan["memory_gib"]["total"] <= memory.usable_gib(6)


LONG_CONTEXT = ["model=bert", "model.max_seq_len=16384", "model.arch.max_position_embeddings=16384"]


def test_long_sequences_turn_on_checkpointing_when_micro_batch_1_does_not_fit(compose):
    plan = card_plan(compose, "rtx2060", *LONG_CONTEXT)
    assert plan["settings"]["gradient_checkpointing"] is True and plan["settings"]["micro_batch_size"] >= 1
    assert "does not fit without it" in plan["reasons"]["gradient_checkpointing"]
    without = memory.estimate(compose(*LONG_CONTEXT).model.arch, 16384, 1, "16-mixed", "sdpa", False)
    assert without["total"] > memory.usable_gib(6)


def test_a_model_too_big_for_the_card_names_memory_needed_and_cards_that_fit(compose):
    bert_large = ["model=bert", "model.max_seq_len=512", "model.arch.num_layers=24", "model.arch.hidden_size=1024",
                  "model.arch.num_heads=16", "model.arch.intermediate_size=4096", "model.arch.num_parameters=335000000"]
    with pytest.raises(PipelineError) as err:
        card_plan(compose, "gtx1060", *bert_large)
    message = str(err.value)
    assert "GiB even at micro batch 1 with activation checkpointing" in message
    assert "max_seq_len" in message and "LoRA" in message and "rtx3090" in message and "gtx1060" not in message.split("fits:")[1]


def test_auto_without_a_gpu_plans_for_the_cpu(compose):
    cfg = compose()
    plan = resolve_plan(NO_GPU, cfg.gpu, cfg.model, cfg.train)
    assert plan["target"] == "cpu" and plan["settings"]["precision"] == "32-true"
    assert plan["settings"]["deterministic"] is True and plan["memory_gib"] is None
    assert set(plan["settings"]) == set(plan["reasons"]) and all(plan["reasons"].values())


def test_deterministic_is_on_for_the_cpu_warn_on_a_gpu_and_a_setting_overrides_both(compose):
    cpu = compose("train.deterministic=false")
    assert resolve_plan(NO_GPU, cpu.gpu, cpu.model, cpu.train)["settings"]["deterministic"] is False
    assert card_plan(compose, "rtx3090")["settings"]["deterministic"] == "warn"
    assert card_plan(compose, "rtx3090", "train.deterministic=true")["settings"]["deterministic"] is True
    with pytest.raises(PipelineError, match="train.deterministic is 'sometimes'"):
        compose("train.deterministic=sometimes")


def test_auto_with_a_usable_gpu_plans_for_its_profile(compose):
    cfg = fixed_length(compose())
    env = {"torch": {"cuda_available": True, "cuda_build": "12.6"}, "gpus": [{}], "gpu_profile": CATALOG["rtx4090"]}
    plan = resolve_plan(env, cfg.gpu, cfg.model, cfg.train)
    assert plan["target"] == "rtx4090" and plan["settings"]["precision"] == "bf16-mixed"


def test_cpu_profile_wins_over_a_present_gpu(compose):
    cfg = compose("gpu=cpu")
    env = {"torch": {"cuda_available": True, "cuda_build": "12.6"}, "gpus": [{}], "gpu_profile": CATALOG["rtx4090"]}
    assert resolve_plan(env, cfg.gpu, cfg.model, cfg.train)["target"] == "cpu"


def test_memory_estimate_matches_a_hand_worked_example():
    """100M parameters, 12 layers of hidden 768 and 12 heads, seq 512, micro batch 8 (gpus.md, "Training memory").

    Worked by hand (1 GiB = 1,073,741,824 bytes):
    - mixed precision: fp32 weights 4e8 B = 0.3725 GiB, gradients 0.3725, AdamW's two fp32 states 8e8 B = 0.7451
    - SDPA activations: 34 x 512 x 8 x 768 = 106,954,752 B a layer, x 12 = 1,283,457,024 B = 1.1953 GiB
    - eager attention: 512 x 8 x 768 x (34 + 5 x 12 x 512 / 768 = 74) = 232,783,872 B a layer, x 12 = 2.6016 GiB
    - full checkpointing: 12 x (2 x 512 x 8 x 768 = 6,291,456 B) + one layer 106,954,752 B = 182,452,224 B = 0.1699 GiB
    - pure bf16: weights and gradients 2e8 B each, states 4e8 B: 8e8 B = 0.7451 GiB
    - fp32 activations take twice the 16-bit ones: 2.3906 GiB
    - total, mixed SDPA: 0.3725 + 0.3725 + 0.7451 + 1.1953 + 0.4 (CUDA context) = 3.0854 GiB
    """
    arch = OmegaConf.create({"family": "bert", "num_parameters": 100_000_000, "hidden_size": 768, "num_heads": 12,
                             "num_layers": 12})
    mixed = memory.estimate(arch, 512, 8, "bf16-mixed", "sdpa", checkpointing=False)
    assert mixed == {"weights": 0.373, "gradients": 0.373, "optimizer_states": 0.745, "activations": 1.195,
                     "cuda_context": 0.4, "total": 3.085}
    assert memory.estimate(arch, 512, 8, "bf16-mixed", "eager", checkpointing=False)["activations"] == 2.602
    assert memory.estimate(arch, 512, 8, "bf16-mixed", "sdpa", checkpointing=True)["activations"] == 0.17
    pure = memory.estimate(arch, 512, 8, "bf16-true", "sdpa", checkpointing=False)
    assert (pure["weights"], pure["gradients"], pure["optimizer_states"]) == (0.186, 0.186, 0.373)
    assert memory.estimate(arch, 512, 8, "32-true", "sdpa", checkpointing=False)["activations"] == 2.391


def test_ddp_splits_the_global_batch_over_the_processes(compose):
    plan = card_plan(compose, "rtx3090", "model=bert", "strategy=ddp", "strategy.devices=4")
    settings = plan["settings"]
    assert (settings["strategy"], settings["devices"], settings["num_nodes"]) == ("ddp", 4, 1)
    assert settings["micro_batch_size"] * settings["accumulate_grad_batches"] == 16 // 4
    assert "per-device batch 4 (global batch 16 / 4 processes)" in plan["reasons"]["micro_batch_size"]
    single = card_plan(compose, "rtx3090", "model=bert")["memory_gib"]
    assert plan["memory_gib"]["gradient_buckets"] == single["gradients"]  # DDP's second copy of the gradients


def test_two_nodes_count_as_processes(compose):
    settings = card_plan(compose, "a100_80gb", "strategy=ddp", "strategy.devices=8", "strategy.num_nodes=2",
                         "train.global_batch_size=64")["settings"]
    assert settings["micro_batch_size"] * settings["accumulate_grad_batches"] == 64 // 16


def test_fsdp_shards_weights_gradients_and_states_not_activations(compose):
    overrides = ("model=bert", "model.max_seq_len=512", "train.global_batch_size=8")
    single = card_plan(compose, "a100_80gb", *overrides, "train.global_batch_size=1")
    sharded = card_plan(compose, "a100_80gb", *overrides, "strategy=fsdp", "strategy.devices=8")
    assert sharded["settings"]["micro_batch_size"] == single["settings"]["micro_batch_size"] == 1  # per device
    for part in ("weights", "gradients", "optimizer_states"):
        assert sharded["memory_gib"][part] == pytest.approx(single["memory_gib"][part] / 8, abs=1e-3)
    assert sharded["memory_gib"]["activations"] == single["memory_gib"]["activations"]
    assert sharded["memory_gib"]["gathered_layer"] > 0
    grad_op = card_plan(compose, "a100_80gb", *overrides, "strategy=fsdp", "strategy.devices=8",
                        "strategy.sharding=SHARD_GRAD_OP")["memory_gib"]
    assert grad_op["weights"] == single["memory_gib"]["weights"] and "gathered_layer" not in grad_op


def test_fsdp_fits_a_model_one_card_cannot_hold(compose):
    with pytest.raises(PipelineError, match="plan-does-not-fit|needs .* GiB") as err:
        card_plan(compose, "gtx1060", "model=bert", "model.arch.num_layers=48", "model.arch.num_parameters=1400000000")
    assert "strategy=fsdp" in err.value.fix
    plan = card_plan(compose, "gtx1060", "model=bert", "model.arch.num_layers=48",
                     "model.arch.num_parameters=1400000000", "strategy=fsdp", "strategy.devices=16")
    assert plan["memory_gib"]["total"] <= memory.usable_gib(6)


def test_strategy_errors_say_what_to_change(compose):
    with pytest.raises(PipelineError, match="16 does not split evenly over 3 processes") as err:
        card_plan(compose, "rtx3090", "strategy=ddp", "strategy.devices=3")
    assert err.value.code == "plan-batch-indivisible"
    with pytest.raises(PipelineError, match="strategy=deepspeed needs CUDA GPUs") as err:
        plan_for(compose("gpu=cpu", "strategy=deepspeed", "strategy.devices=2"))
    assert err.value.code == "plan-strategy-unsupported"


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None, reason="deepspeed is installed here")
def test_deepspeed_without_its_package_is_refused(compose):
    with pytest.raises(PipelineError, match="deepspeed package is not installed"):
        card_plan(compose, "a100_80gb", "strategy=deepspeed", "strategy.devices=2")


def test_devices_auto_is_every_gpu_torch_sees_and_one_process_on_the_cpu(compose):
    env = {"torch": {"cuda_available": True, "cuda_build": "12.8", "device_count": 4}, "gpus": [{}] * 4,
           "gpu_profile": CATALOG["rtx4090"]}
    for overrides, devices in [(("strategy=ddp",), 4), (("gpu=cpu", "strategy=ddp"), 1)]:
        cfg = fixed_length(compose(*overrides))
        assert resolve_plan(env, cfg.gpu, cfg.model, cfg.train, cfg.finetune, cfg.strategy)["settings"]["devices"] \
            == devices

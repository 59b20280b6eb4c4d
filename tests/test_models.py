"""Model configs and fine-tuning modes: every architecture builds offline, LoRA and head-only train what they say."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from transformers import AutoModelForSequenceClassification

from conftest import ROOT, tool_env
from pipeline.gpu.memory import estimate, trainable_parameters
from pipeline.models.architectures import scratch_config
from pipeline.models.sources import build_model, build_tokenizer
from pipeline.models.finetune import apply_finetune, merged, parameter_counts

sys.path.insert(0, str(ROOT / "benchmarks"))
from finetune_memory import saved_for_backward  # benchmarks/ is a folder of scripts, not a package  # noqa: E402

MODELS = sorted(path.stem for path in (ROOT / "conf/model").glob("*.yaml"))
LABELS = ["business", "politics", "sports"]
SMALL = {"num_layers": 2, "hidden_size": 32, "num_heads": 2, "intermediate_size": 64, "vocab_size": 300,
         "embedding_dim": 16}


@pytest.mark.parametrize("name", MODELS)
def test_every_model_config_builds_a_small_model_of_its_architecture(compose, name):
    arch = compose(f"model={name}").model.arch
    small = OmegaConf.merge(arch, {key: value for key, value in SMALL.items() if key in arch})
    config = scratch_config(small, num_labels=len(LABELS), pad_token_id=0)
    model = AutoModelForSequenceClassification.from_config(config).eval()
    batch = {"input_ids": torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]]),
             "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])}
    assert model(**batch).logits.shape == (2, len(LABELS))
    modules = {module_name for module_name, _ in model.named_modules()}
    assert set(arch.head_modules) <= modules, f"{name}: head modules {list(arch.head_modules)} not in the model"
    leaves = {module_name.rsplit(".", 1)[-1] for module_name, _ in model.named_modules()}
    assert set(arch.get("lora_targets") or []) <= leaves, f"{name}: LoRA targets missing"


@pytest.mark.parametrize("name", MODELS)
def test_architecture_numbers_give_the_stated_parameter_count(compose, name):
    arch = compose(f"model={name}").model.arch
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(scratch_config(arch, num_labels=2))
    assert sum(p.numel() for p in model.parameters()) == arch.num_parameters


@pytest.fixture(scope="module")
def minilm(small_frame):
    from pipeline.config.compose import compose_config

    cfg = compose_config(["model=minilm"], conf_dir=ROOT / "conf")
    return cfg, build_tokenizer(cfg.model, []), small_frame["text"].tolist()[:8]


def train_steps(model, tokenizer, texts, steps=3, lr=5e-3):
    batch = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    labels = torch.arange(len(texts)) % len(LABELS)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model(**batch, labels=labels).loss.backward()
        optimizer.step()
    return batch


def test_lora_trains_under_5_percent_and_the_merged_model_predicts_like_the_adapters(minilm, compose, tmp_path):
    cfg, tokenizer, texts = minilm
    lora = compose("finetune=lora").finetune
    model = apply_finetune(build_model(cfg.model, LABELS, tokenizer), lora, cfg.model.arch)
    counts = parameter_counts(model)
    assert 0 < counts["trainable"] < 0.05 * counts["total"]
    assert counts["trainable"] <= trainable_parameters(cfg.model.arch, lora) < 0.05 * cfg.model.arch.num_parameters
    batch = train_steps(model, tokenizer, texts)
    model.eval()
    with torch.no_grad():
        adapter_logits = model(**batch).logits
    merged(model).save_pretrained(tmp_path)
    exported = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert not any("lora" in name for name in exported.state_dict())
    with torch.no_grad():
        assert torch.allclose(exported(**batch).logits, adapter_logits, atol=1e-5)


def test_head_only_leaves_the_encoder_untouched(minilm, compose):
    cfg, tokenizer, texts = minilm
    model = apply_finetune(build_model(cfg.model, LABELS, tokenizer), compose("finetune=head_only").finetune,
                           cfg.model.arch)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"}
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    train_steps(model, tokenizer, texts)
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert changed == trainable


def test_memory_estimate_shrinks_with_the_fine_tuning_mode(compose):
    arch = compose("model=bert").model.arch
    peak = {mode: estimate(arch, 512, 8, "16-mixed", "sdpa", False, compose(f"finetune={mode}").finetune)
            for mode in ("full", "lora", "head_only")}
    # bert-base trains 109.5M weights in full; LoRA r 16 on every linear layer about r (10 h + 2 i) per layer:
    # 16 x (7,680 + 6,144) x 12 = 2.65M, plus the head: about 33x fewer optimizer states
    assert peak["full"]["optimizer_states"] > 30 * peak["lora"]["optimizer_states"]
    assert peak["full"]["total"] > peak["lora"]["total"] > peak["head_only"]["total"]
    assert peak["lora"]["activations"] == peak["full"]["activations"]  # backward still runs through every layer
    assert peak["lora"]["weights"] == peak["full"]["weights"]


def test_lora_dropout_adds_a_copy_of_each_adapted_input_worked_by_hand(compose):
    arch = compose("model=minilm").model.arch  # 6 layers, h 384, i 1536
    peak = {dropout: estimate(arch, 128, 16, "32-true", "sdpa", False, compose(
        "model=minilm", "finetune=lora", "finetune.targets=all_linear", f"finetune.dropout={dropout}").finetune)
        for dropout in (0.1, 0)}
    # 128 x 16 positions x (5 x 384 + 1536) input elements x (4 bytes fp32 + 1 mask byte) = 35,389,440 bytes a
    # layer, 212,336,640 for 6: 0.198 GiB more; without dropout LoRA stores what full fine-tuning does
    assert peak[0.1]["activations"] - peak[0]["activations"] == pytest.approx(0.198, abs=0.0015)
    assert peak[0]["activations"] == estimate(arch, 128, 16, "32-true", "sdpa", False)["activations"]


def test_lora_dropout_memory_measured_matches_the_estimate(minilm, compose):
    cfg, tokenizer, _ = minilm
    torch.manual_seed(0)
    ids = torch.randint(1000, 20000, (8, 128))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([0, 1, 2] * 2 + [0, 1])}
    modes = {"full": compose("model=minilm").finetune,
             **{f"lora {dropout}": compose("model=minilm", "finetune=lora", "finetune.targets=all_linear",
                                           f"finetune.dropout={dropout}").finetune for dropout in (0.1, 0)}}
    saved = {name: saved_for_backward(apply_finetune(build_model(cfg.model, LABELS, tokenizer), finetune,
                                                     cfg.model.arch).train(), batch) for name, finetune in modes.items()}
    estimated = {name: estimate(cfg.model.arch, 128, 8, "32-true", "sdpa", False, finetune)["activations"] * 2**30
                 for name, finetune in modes.items()}
    assert saved["lora 0"] <= saved["full"]  # the adapters read the inputs the frozen layers keep anyway
    measured_extra, estimated_extra = saved["lora 0.1"] - saved["lora 0"], estimated["lora 0.1"] - estimated["lora 0"]
    assert measured_extra == pytest.approx(estimated_extra, rel=0.15)  # CPU dropout keeps a float mask: 0.93 of it


def test_hub_model_offline_says_how_to_use_a_local_folder(tmp_path, compose, small_frame):
    small_frame.to_csv(tmp_path / "news.csv", index=False)
    params = compose("model=bert", "data=csv", "data.path=news.csv")
    (tmp_path / "params.yaml").write_text(OmegaConf.to_yaml(params))
    result = subprocess.run([sys.executable, "-m", "pipeline.stages.preprocess"], cwd=tmp_path, capture_output=True,
                            text=True, env=dict(tool_env(), HF_HUB_OFFLINE="1"))
    assert result.returncode == 2, result.stderr[-2000:]
    message = result.stderr.strip().splitlines()[-1]
    assert "cannot load 'bert-base-uncased' from the Hugging Face hub" in message
    assert "-S model.source=local -S model.path=" in message
    assert not Path(tmp_path / "data/processed").exists()


def test_lora_on_every_linear_layer_adapts_the_feed_forward_layers_too(minilm, compose):
    cfg, tokenizer, _ = minilm
    lora = compose("finetune=lora", "finetune.targets=all_linear", "finetune.r=8").finetune
    model = apply_finetune(build_model(cfg.model, LABELS, tokenizer), lora, cfg.model.arch)
    adapted = {name.split(".lora_A")[0].rsplit(".", 1)[-1] for name, _ in model.named_parameters() if ".lora_A" in name}
    assert {"query", "key", "value", "dense"} <= adapted  # dense: attention output, intermediate, output
    assert not any(".lora_A" in name and ("classifier" in name or "pooler" in name) for name, _ in model.named_parameters())
    # r (10 h + 2 i) per layer: 8 x (3,840 + 3,072) x 6 = 331,776 adapter weights, + the head trained whole:
    # the pooler (384 x 384 + 384 = 147,840) and the classifier (384 x 3 + 3 = 1,155)
    h, i = cfg.model.arch.hidden_size, cfg.model.arch.intermediate_size
    assert parameter_counts(model)["trainable"] == 331_776 + 147_840 + 1_155
    assert parameter_counts(model)["trainable"] <= trainable_parameters(cfg.model.arch, lora)
    assert i == 1536 and h == 384


def test_lora_on_the_attention_projections_adapts_only_those(minilm, compose):
    cfg, tokenizer, _ = minilm
    lora = compose("finetune=lora", "finetune.targets=attention").finetune
    model = apply_finetune(build_model(cfg.model, LABELS, tokenizer), lora, cfg.model.arch)
    adapted = {name.split(".lora_A")[0].rsplit(".", 1)[-1] for name, _ in model.named_parameters() if ".lora_A" in name}
    assert adapted == set(cfg.model.arch.lora_targets) == {"query", "value"}

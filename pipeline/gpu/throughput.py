"""Training samples/s of a model on a catalog card, from the card's datasheet figures (conf/gpu).

One optimizer step of `accumulate` micro batches of b samples takes

    step       = accumulate x (b x per_sample + launch_s_per_layer x layers) + optimizer
    per_sample = matmul + memory + vector                      (x 4/3 with activation checkpointing)
    matmul     = training FLOPs per sample / (matmul peak x matmul_efficiency[architecture])
    memory     = bytes_moved_per_activation_byte x activation bytes / memory bandwidth
    vector     = vector_ops_per_activation_byte x activation bytes at 16 bits / FP32 peak
    optimizer  = 2 x training-state bytes per trained parameter / memory bandwidth

and samples/s = accumulate x b / step. The launch cost is what makes small micro batches slow: it is a
batch efficiency b / (b + b_half) with b_half = launch_s_per_layer x layers / per_sample.

- matmul peak: 16-bit mixed precision runs on tensor cores at the FP16/BF16 rate with FP32 accumulate
  (what AMP uses; half the FP16-accumulate rate on GeForce cards); 32-true runs on TF32 tensor cores from
  CC 8.0 (the plan's matmul precision "high"; TF32 is half the FP16/BF16 rate), else on the FP32 cores at
  cuda_core_matmul_efficiency. Pascal has no tensor cores: its 16-bit matmuls run on the FP32 cores too.
- activation bytes: what the backward pass stores per layer (memory.activation_bytes_per_layer, eager
  attention), as the measure of the work that is not matmuls: layer norm, softmax, GELU, dropout and the
  residual adds read and write it in both passes (memory); the same work's arithmetic (exp, erf, dropout's
  random numbers) runs on the FP32 cores (vector), counted per element, so fp32 activations do not double it.

The constants are fitted to Lambda's published BERT SQuAD runs (benchmarks/fit_throughput.py, which
prints them; docs/benchmarks.md): NGC PyTorch 22.09 (PyTorch 1.13, CUDA 11.8), apex AMP O2, eager
attention. Efficiencies are against the rated peak (rated boost clock); GeForce cards clock above it under
load, which is why the fit reaches the bound of 1.0 on Turing and Ada.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from pipeline.gpu.memory import activation_bytes_per_layer, state_bytes_per_param, trainable_parameters

RECOMPUTE = 4 / 3  # activation checkpointing re-runs the forward pass: a third more of the per-sample work
BORROWED = {"blackwell": "ada"}  # no Blackwell card is measured: the constants of its GeForce predecessor


@dataclass(frozen=True)
class Constants:
    matmul_efficiency: dict[str, float]  # tensor-core matmuls, per architecture, of the rated peak
    cuda_core_matmul_efficiency: float   # FP32-core matmuls (Pascal; fp32 on Volta and Turing)
    bytes_moved_per_activation_byte: float
    vector_ops_per_activation_byte: float
    launch_s_per_layer: float            # per micro batch: kernel launches, loss scaling, the Python around them


# Fitted by benchmarks/fit_throughput.py (its printout); FIT_ERROR is the fit's RMS error per architecture.
FITTED = Constants(matmul_efficiency={"volta": 0.825, "turing": 1.0, "ampere": 0.925, "ada": 1.0, "hopper": 0.646},
                   cuda_core_matmul_efficiency=0.875, bytes_moved_per_activation_byte=9.27,
                   vector_ops_per_activation_byte=30.5, launch_s_per_layer=0.00232)
FIT_ERROR = {"pascal": 0.18, "volta": 0.07, "turing": 0.12, "ampere": 0.1, "ada": 0.1, "hopper": 0.07}


@dataclass(frozen=True)
class Throughput:
    samples_per_s: float
    seconds: dict[str, float]  # per sample, by part: matmul, memory, vector, launch + optimizer
    matmul_peak: str           # which peak the matmuls run at
    error: float               # expected relative error: the fit's, for this card's architecture
    basis: str                 # whose constants: the card's architecture, or the one it borrows from

    def bound(self) -> str:
        """The part that takes the most time, with its share: 'memory 55%'."""
        part = max(self.seconds, key=self.seconds.get)
        return f"{part} {self.seconds[part] / sum(self.seconds.values()):.0%}"


def training_flops_per_sample(arch: DictConfig, seq_len: int, finetune: DictConfig | None = None) -> float:
    """Forward + backward FLOPs: 6 x non-embedding params per token plus attention scores (12 L h s per token).

    A frozen encoder (head_only) runs forward only (2 x); LoRA skips the frozen weights' gradients (4 x).
    """
    positions = arch.get("max_position_embeddings") or 0
    embedding = (arch.vocab_size + positions) * arch.get("embedding_dim", arch.hidden_size)
    per_param = {"head_only": 2, "lora": 4}.get(_mode(finetune), 6)
    dense = per_param * (arch.num_parameters - embedding) * seq_len
    attention = 0 if arch.family == "lstm" else per_param * 2 * arch.num_layers * arch.hidden_size * seq_len**2
    return dense + attention


def matmul_peak(card: dict, precision: str, constants: Constants = FITTED) -> tuple[float | None, float, str]:
    """(peak TFLOPS, efficiency, what) of the unit the matmuls run on."""
    arch = BORROWED.get(card["arch"], card["arch"])
    if precision != "32-true" and card["tensor_cores"]:
        return card["tensor_tflops_fp32_acc"], constants.matmul_efficiency[arch], "tensor FP16/BF16, FP32 accumulate"
    if precision == "32-true" and card["tf32"]:
        half_rate = card["tensor_tflops_fp32_acc"] and card["tensor_tflops_fp32_acc"] / 2
        return card["tf32_tflops"] or half_rate, constants.matmul_efficiency[arch], "TF32 tensor"
    return card["fp32_tflops"], constants.cuda_core_matmul_efficiency, "FP32 cores"


def throughput(card: dict, arch: DictConfig, seq_len: int, precision: str, micro_batch: int, accumulate: int = 1,
               checkpointing: bool = False, finetune: DictConfig | None = None,
               constants: Constants = FITTED) -> Throughput | None:
    """Training samples/s on one card (Lightning `precision`); None when the card lacks a figure it needs."""
    peak, efficiency, unit = matmul_peak(card, precision, constants)
    if not (peak and card["bandwidth_gbs"] and card["fp32_tflops"]):
        return None
    bandwidth, fp32 = card["bandwidth_gbs"] * 1e9, card["fp32_tflops"] * 1e12
    layers = arch.num_layers
    passes = 1 / 3 if _mode(finetune) == "head_only" else 1  # a frozen encoder runs the forward pass only
    recompute = RECOMPUTE if checkpointing else 1
    seconds = {
        "matmul": recompute * training_flops_per_sample(arch, seq_len, finetune) / (peak * 1e12 * efficiency),
        "memory": recompute * passes * constants.bytes_moved_per_activation_byte * layers
        * activation_bytes_per_layer(arch, seq_len, 1, "eager", precision) / bandwidth,
        "vector": recompute * passes * constants.vector_ops_per_activation_byte * layers
        * activation_bytes_per_layer(arch, seq_len, 1, "eager", "16-mixed") / fp32,
    }
    optimizer = 2 * state_bytes_per_param(precision) * trainable_parameters(arch, finetune) / bandwidth
    seconds["overhead"] = (constants.launch_s_per_layer * layers + optimizer / accumulate) / micro_batch
    arch_name = card["arch"]
    basis = f"{BORROWED[arch_name]} (no {arch_name} card measured)" if arch_name in BORROWED else arch_name
    return Throughput(samples_per_s=1 / sum(seconds.values()), seconds=seconds, matmul_peak=f"{peak:g} ({unit})",
                      error=FIT_ERROR.get(arch_name, max(FIT_ERROR.values())), basis=basis)


def _mode(finetune: DictConfig | None) -> str:
    return finetune.mode if finetune is not None else "full"

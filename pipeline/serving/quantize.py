"""Dynamic int8 quantization of an exported ONNX model (ONNX Runtime): int8 weights, activations quantized
on the fly; nothing to calibrate."""

from __future__ import annotations

import logging
from pathlib import Path

INT8_FILE = "model.int8.onnx"
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")  # x86 instructions for int8 dot products


def has_vnni(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has VNNI (int8 dot products that cannot overflow); False where it cannot be told."""
    try:
        flags = set(cpuinfo.read_text().split())
    except OSError:
        return False
    return any(flag in flags for flag in VNNI_FLAGS)


def quantize_int8(fp32: Path, target: Path, reduce_range: bool) -> None:
    """Write `target`: `fp32` with int8 weights. `reduce_range` uses 7 bits for the weights, which keeps
    accuracy on x86 CPUs without VNNI, whose int8 instructions can saturate at 8 bits."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quiet its advice to pre-process first, which fails on these graphs
    try:
        quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8, reduce_range=reduce_range)
    finally:
        root.setLevel(level)

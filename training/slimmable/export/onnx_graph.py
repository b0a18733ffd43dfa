"""Export one plain width to ONNX and read tensors back out of the graph."""
from __future__ import annotations

import io

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

INPUT_NAME = "input"
OPSET = 13


def export_width(plain: nn.Module, input_shape: tuple[int, int, int], output_name: str) -> onnx.ModelProto:
    """ONNX graph of a plain width with a dynamic batch dimension.

    Two torch 1.13 details matter for weight sharing: TrainingMode.PRESERVE keeps BatchNormalization
    as its own node (EVAL would fold it into the conv weights, which then could not be shared), and
    the exporter merges initializers with EQUAL VALUES (e.g. fresh BN ones) unless the top module
    reports training=True; the submodules stay in eval mode, so the graph is the inference graph.
    """
    plain.eval()
    plain.training = True  # only the top module: disables value-based initializer merging
    buffer = io.BytesIO()
    try:
        torch.onnx.export(
            plain,
            torch.zeros(1, *input_shape),
            buffer,
            input_names=[INPUT_NAME],
            output_names=[output_name],
            dynamic_axes={INPUT_NAME: {0: "batch"}, output_name: {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=False,
            training=torch.onnx.TrainingMode.PRESERVE,
        )
    finally:
        plain.eval()
    model = onnx.load_from_string(buffer.getvalue())
    # Intermediate shapes depend on the width; they are optional, so drop them and let the runtime infer.
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    return model


def initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}

"""Export a sentence-transformers model's transformer to ONNX, once per model and machine.

It runs in a process of its own (``python -m kairo_ray.processing.embed_export FOLDER OUT``) so
that torch, which only the export needs, never loads into the embedding replica. The graph takes
the tokenizer's ids and attention mask (and token type ids where the model has them) and returns
the token embeddings; pooling and normalisation stay in :mod:`kairo_ray.processing.embed`.
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path

EXPORT_VERSION = 2
"""Part of the cache key of exported files: raise it when the export changes."""
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "token_embeddings"
OPSET = 17


def export(folder: Path, out: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    # float32 whatever the checkpoint stores: the CPU runtime, and vectors equal to torch's.
    model = AutoModel.from_pretrained(str(folder)).float()
    model.eval()
    accepted = inspect.signature(model.forward).parameters
    names = [name for name in INPUT_NAMES if name in accepted]

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state

    dummy = tuple(
        torch.zeros((2, 8), dtype=torch.long)
        if name == "token_type_ids"
        else torch.ones((2, 8), dtype=torch.long)
        for name in names
    )
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, OUTPUT_NAME]}
    with torch.no_grad():
        torch.onnx.export(
            TokenEmbeddings(),
            dummy,
            str(out),
            input_names=names,
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m kairo_ray.processing.embed_export MODEL_FOLDER OUT.onnx")
    export(Path(sys.argv[1]), Path(sys.argv[2]))

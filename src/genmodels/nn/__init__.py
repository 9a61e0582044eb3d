"""Network building blocks shared by the model families."""

from .conv import ConvDecoder, ConvEncoder, n_downsamples
from .mlp import mlp

__all__ = ["ConvDecoder", "ConvEncoder", "mlp", "n_downsamples"]

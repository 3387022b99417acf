"""Equivariant layers on deep weight spaces, the models built from them, and the baselines."""

from dws_edit.nn.baselines import (
    AlignedMLPEncoder,
    FlatMLPEditNet,
    FlatMLPEncoder,
    INR2VecEncoder,
    NeuronTransformerEncoder,
    align_to_reference,
)
from dws_edit.nn.encoders import ENCODERS, BaselineEncoder, DWSClassifier, DWSEncoder, build_encoder
from dws_edit.nn.layer import DWSLayer
from dws_edit.nn.models import (
    DWSBlocks,
    DWSEditNet,
    EditNet,
    InvariantPool,
    WeightNormalizer,
)

__all__ = [
    "ENCODERS",
    "AlignedMLPEncoder",
    "BaselineEncoder",
    "DWSBlocks",
    "DWSClassifier",
    "DWSEditNet",
    "DWSEncoder",
    "DWSLayer",
    "EditNet",
    "FlatMLPEditNet",
    "FlatMLPEncoder",
    "INR2VecEncoder",
    "InvariantPool",
    "NeuronTransformerEncoder",
    "WeightNormalizer",
    "align_to_reference",
    "build_encoder",
]

"""Equivariant layers on deep weight spaces, the models built from them, and the baselines."""

from dws_edit.nn.baselines import (
    AlignedMLPEncoder,
    FlatMLPEditNet,
    FlatMLPEncoder,
    INR2VecEncoder,
    NeuronTransformerEncoder,
    align_to_reference,
)
from dws_edit.nn.layer import DWSLayer
from dws_edit.nn.models import (
    DWSBlocks,
    DWSClassifier,
    DWSEditNet,
    DWSEncoder,
    EditNet,
    InvariantPool,
    WeightNormalizer,
)

__all__ = [
    "AlignedMLPEncoder",
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
]

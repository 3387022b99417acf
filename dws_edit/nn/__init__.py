"""Equivariant layers on deep weight spaces, the models built from them, and the baselines."""

from dws_edit.nn.baselines import (
    AlignedMLPEncoder,
    FlatMLPEditNet,
    FlatMLPEncoder,
    INR2VecEncoder,
    NeuronTransformerEncoder,
)
from dws_edit.nn.layer import DWSLayer
from dws_edit.nn.models import DWSBlocks, DWSClassifier, DWSEditNet, DWSEncoder, InvariantPool

__all__ = [
    "AlignedMLPEncoder",
    "DWSBlocks",
    "DWSClassifier",
    "DWSEditNet",
    "DWSEncoder",
    "DWSLayer",
    "FlatMLPEditNet",
    "FlatMLPEncoder",
    "INR2VecEncoder",
    "InvariantPool",
    "NeuronTransformerEncoder",
]

"""Hypothesis strategies for architectures and weight spaces."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from dws_edit.weights import NetworkSpec, WeightSpace


@st.composite
def specs(draw, min_layers: int = 2, max_layers: int = 5, max_width: int = 16, max_io: int = 4) -> NetworkSpec:
    L = draw(st.integers(min_layers, max_layers))
    d_in, d_out = draw(st.integers(1, max_io)), draw(st.integers(1, max_io))
    hidden = draw(st.lists(st.integers(1, max_width), min_size=L - 1, max_size=L - 1))
    return NetworkSpec((d_in, *hidden, d_out))


def random_ws(spec: NetworkSpec, batch: int, channels: int, seed: int) -> WeightSpace:
    g = torch.Generator().manual_seed(seed)
    return WeightSpace.randn(spec, batch, channels, generator=g, dtype=torch.float64)


def random_perms(ws: WeightSpace, seed: int, per_network: bool = True) -> list[torch.Tensor]:
    return ws.random_permutations(torch.Generator().manual_seed(seed), per_network=per_network)


def assert_ws_close(a: WeightSpace, b: WeightSpace, atol: float = 1e-6) -> None:
    for x, y in zip(a.tensors(), b.tensors()):
        torch.testing.assert_close(x, y, atol=atol, rtol=0)

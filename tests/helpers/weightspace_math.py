"""Independent facts about weight spaces for the tests: coordinates, group orbits, dense layer matrices."""

from __future__ import annotations

import itertools

import torch

from dws_edit.weights import NetworkSpec, WeightSpace


def coordinates(spec: NetworkSpec) -> list[tuple]:
    """Every coordinate of one network's weight space as (kind, layer, row, col), in flat order."""
    coords = []
    for i, (o, n) in enumerate(spec.weight_shapes):
        coords += [("W", i, r, c) for r in range(o) for c in range(n)]
        coords += [("b", i, r, None) for r in range(o)]
    return coords


def _neuron_layers(coord):
    kind, i, r, c = coord
    return [(i + 1, r)] + ([(i, c)] if kind == "W" else [])


def orbit_count_on_pairs(spec: NetworkSpec) -> int:
    """Number of orbits of the hidden-neuron permutation group on pairs of coordinates.

    Union-find over pairs, closed under transpositions of adjacent neurons in each hidden layer (these
    generate the group). This is the dimension of the space of equivariant linear maps V -> V.
    """
    coords = coordinates(spec)
    index = {c: k for k, c in enumerate(coords)}
    n = len(coords)
    parent = list(range(n * n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    L = spec.num_layers
    for layer in range(1, L):
        for j in range(spec.layer_sizes[layer] - 1):
            swap = {j: j + 1, j + 1: j}

            def act(coord, layer=layer, swap=swap):
                kind, i, r, c = coord
                if i + 1 == layer:
                    r = swap.get(r, r)
                if kind == "W" and i == layer:
                    c = swap.get(c, c)
                return (kind, i, r, c)

            moved = [index[act(c)] for c in coords]
            for a, b in itertools.product(range(n), range(n)):
                x, y = find(a * n + b), find(moved[a] * n + moved[b])
                if x != y:
                    parent[x] = y
    return len({find(x) for x in range(n * n)})


def layer_matrix(layer, spec: NetworkSpec) -> torch.Tensor:
    """The linear part of ``layer`` on one network as a dense [P*C_out, P*C_in] matrix (channel-major)."""
    P, c_in = spec.num_params, layer.in_channels
    eye = torch.eye(P * c_in, dtype=torch.float64).reshape(P * c_in, c_in, P)
    zero = WeightSpace.zeros(spec, 1, c_in, dtype=torch.float64)
    with torch.no_grad():
        out = layer(WeightSpace.from_flat(eye, spec)).flatten() - layer(zero).flatten()
    return out.reshape(P * c_in, -1).t()


def permutation_matrix(spec: NetworkSpec, perms) -> torch.Tensor:
    """[P, P] matrix M with flatten(ws.permute(perms)) = M @ flatten(ws) for one channel."""
    P = spec.num_params
    eye = torch.eye(P, dtype=torch.float64)[:, None, :]
    return WeightSpace.from_flat(eye, spec).permute(perms).flatten()[:, 0, :].t()

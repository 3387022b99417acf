"""Small colored-field INRs for tests of what sees fields as a renderer does (the guard's views, refine, benches)."""

import torch

from dws_edit.inr.siren import field_spec, init_siren
from dws_edit.weights import WeightSpace


def field_with_density(seed: int = 0, density: float = 0.2) -> WeightSpace:
    """ONE field 3 -> 16 -> 16 -> 4 from SIREN's initialisation (``seed``), its output offset so that the density is
    about ``density`` (a fog at 0.1 to 0.2, as NeRFs trained from images are; mostly empty below 0) and the colors
    about grey."""
    ws = init_siren(field_spec((16, 16)), 1, torch.Generator().manual_seed(seed))
    b = list(ws.biases)
    b[-1] = b[-1] + torch.tensor([density, 0.5, 0.5, 0.5])
    return WeightSpace(ws.spec, ws.weights, tuple(b))

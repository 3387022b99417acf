"""SDF INRs fitted by other code: two published recipes, imported as a user would import them.

Users who bring an SDF SIREN rarely fitted it with dws-edit. Both recipes here build the network as
vsitzmann/siren does (an ``nn.Module`` with sin(30 x) in every hidden layer and SIREN's initialisation, first-layer
frequencies twice the zoo's, biases not zero) and fit it with this module's own loop, per mesh, with Adam (1e-3;
SIREN's 1e-4 needs many times the steps a bench can spend):

- ``"eikonal"``, the SIREN paper's (Sitzmann et al. 2020, "Implicit Neural Representations with Periodic Activation
  Functions", Sec. 4.2 and its released ``sdf`` loss): no signed distances at all, only points on the surface with
  their normals, and points anywhere:

    loss = 3e3 |f(x_s)| + 1e2 (1 - cos(grad f(x_s), n_s)) + 1e2 exp(-100 |f(x_o)|) + 5e1 | |grad f(x)| - 1 |

  (x_s: surface points, n_s: their normals, x_o: uniform points in [-1, 1]^3; each term a mean over its points).
  At width 32 its interior often holds positive pockets far from the surface (the eikonal term fixes the slope,
  not the sign): such INRs are what this recipe gives, and the edits are measured against their own exact edits.
- ``"deepsdf"``, DeepSDF's (Park et al. 2019, Sec. 5): signed distances precomputed at surface samples jittered
  with gaussian noise of variance 0.0025 and 0.00025, plus a few uniform points, and the L1 loss of the outputs and
  distances clamped to +-0.1.

:func:`fit_siren_sdf` hands the fitted network's state dict to :func:`dws_edit.inr.import_siren` (format
``vsitzmann``), the path a user's file takes.
"""

from __future__ import annotations

import math

import torch
import trimesh
from torch import nn

from dws_edit.bench.fit import Sine
from dws_edit.weights import WeightSpace

SIREN_SDF_WEIGHTS = {"surface": 3e3, "normal": 1e2, "off_surface": 1e2, "eikonal": 5e1}
"""The SIREN paper's weights of its four SDF loss terms (its released ``sdf`` loss)."""


def siren_module(widths: tuple[int, ...], w0: float, g: torch.Generator) -> nn.Sequential:
    """A SIREN as vsitzmann/siren builds it (``outermost_linear=True``): sine layers ``sin(w0 (W x + b))`` and a
    linear last layer; weights uniform in +-1/fan_in (first layer) and +-sqrt(6 / fan_in) / w0 (later layers),
    biases uniform in +-1/sqrt(fan_in) (PyTorch's default). ``widths``: (d0, hidden..., dL)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        lin = nn.Linear(n_in, n_out)
        bound = 1 / n_in if i == 0 else math.sqrt(6 / n_in) / w0
        with torch.no_grad():
            lin.weight.uniform_(-bound, bound, generator=g)
            lin.bias.uniform_(-1 / math.sqrt(n_in), 1 / math.sqrt(n_in), generator=g)
        layers += [lin] if i == len(widths) - 2 else [lin, Sine(w0)]
    return nn.Sequential(*layers)


def _vsitzmann_state_dict(net: nn.Sequential) -> dict[str, torch.Tensor]:
    """The module's weights under vsitzmann/siren's ``Siren`` keys: net.{i}.linear.* (sine layers), net.{L-1}.*."""
    linears = [m for m in net if isinstance(m, nn.Linear)]
    sd = {}
    for i, lin in enumerate(linears):
        key = f"net.{i}" if i == len(linears) - 1 else f"net.{i}.linear"
        sd[f"{key}.weight"], sd[f"{key}.bias"] = lin.weight.detach().clone(), lin.bias.detach().clone()
    return sd


RECIPES = ("eikonal", "deepsdf")
DOMAINS = ("sdf",)
"""The INR domains fitted here by other code (the SIREN paper's and DeepSDF's recipes fit SDFs)."""
"""The published recipes :func:`fit_siren_sdf` follows (module docstring)."""

DEEPSDF_CLAMP = 0.1
"""DeepSDF's clamp delta of distances and outputs in its L1 loss (Park et al. 2019)."""


def deepsdf_samples(mesh: trimesh.Trimesh, n: int, g: torch.Generator, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """DeepSDF's training samples of one mesh: (points [n, 3], signed distances [n]), 47% surface samples jittered
    with variance 0.0025, 47% with 0.00025, 6% uniform in [-1, 1]^3 (the signed distances from
    :class:`~dws_edit.data.meshes.MeshShape`, negative inside)."""
    from dws_edit.data.meshes import MeshShape

    n_near = int(n * 0.47)
    surface, _ = trimesh.sample.sample_surface(mesh, 2 * n_near, seed=seed)
    surface = torch.as_tensor(surface, dtype=torch.float32)
    std = torch.tensor([0.0025**0.5, 0.00025**0.5]).repeat_interleave(n_near)[:, None]
    near = surface + torch.randn(2 * n_near, 3, generator=g) * std
    points = torch.cat([near, torch.rand(n - 2 * n_near, 3, generator=g) * 2 - 1]).clamp(-1, 1)
    return points, MeshShape(mesh).sdf(points).float()


def fit_siren_sdf(
    mesh: trimesh.Trimesh,
    recipe: str = "eikonal",
    hidden: int = 32,
    steps: int = 1500,
    points: int = 4096,
    lr: float = 1e-3,
    seed: int = 0,
) -> WeightSpace:
    """Fit ONE SDF SIREN (3 -> hidden -> hidden -> 1, w0 = 30, :func:`siren_module`) to ``mesh`` (inside
    [-1, 1]^3, normalized as :func:`~dws_edit.data.meshes.prepare_mesh` does) with a published ``recipe``
    (:data:`RECIPES`, module docstring): Adam (``lr``) for ``steps`` steps of ``points`` points each (eikonal:
    ``points`` surface and ``points`` uniform points drawn anew each step; deepsdf: ``points`` of 64 x ``points``
    precomputed samples). Returns it imported through :func:`~dws_edit.inr.import_siren` (B = 1, dws-edit's SDF spec:
    w0 = 15, the same function). Raises ValueError for an unknown recipe or a mesh without faces."""
    from dws_edit.inr import import_siren

    if recipe not in RECIPES:
        raise ValueError(f"fit_siren_sdf: unknown recipe {recipe!r}; accepted: {', '.join(RECIPES)}")
    if len(mesh.faces) == 0:
        raise ValueError("fit_siren_sdf: the mesh has no faces; a closed triangle mesh is accepted")
    g = torch.Generator().manual_seed(seed)
    net = siren_module((3, hidden, hidden, 1), 30.0, g)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    if recipe == "deepsdf":
        pool, distances = deepsdf_samples(mesh, 64 * points, g, seed)
        clamp = lambda t: t.clamp(-DEEPSDF_CLAMP, DEEPSDF_CLAMP)  # noqa: E731
    seeds = torch.randint(0, 2**31 - 1, (steps,), generator=g).tolist()
    for step_seed in seeds:
        if recipe == "deepsdf":
            idx = torch.randint(0, len(pool), (points,), generator=g)
            loss = (clamp(net(pool[idx])[:, 0]) - clamp(distances[idx])).abs().mean()
        else:
            loss = _eikonal_loss(net, mesh, points, step_seed, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return import_siren(_vsitzmann_state_dict(net), format="vsitzmann", w0=15.0)


def _eikonal_loss(net: nn.Module, mesh: trimesh.Trimesh, points: int, seed: int, g: torch.Generator) -> torch.Tensor:
    """The SIREN paper's SDF loss (module docstring) at ``points`` fresh surface samples and uniform points."""
    surface, faces = trimesh.sample.sample_surface(mesh, points, seed=seed)
    x_s = torch.as_tensor(surface, dtype=torch.float32)
    n_s = torch.as_tensor(mesh.face_normals[faces], dtype=torch.float32)
    x = torch.cat([x_s, torch.rand(points, 3, generator=g) * 2 - 1]).requires_grad_(True)
    f = net(x)[:, 0]
    (grad,) = torch.autograd.grad(f.sum(), x, create_graph=True)
    w = SIREN_SDF_WEIGHTS
    return (
        w["surface"] * f[:points].abs().mean()
        + w["normal"] * (1 - nn.functional.cosine_similarity(grad[:points], n_s, dim=-1)).mean()
        + w["off_surface"] * torch.exp(-100 * f[points:].abs()).mean()
        + w["eikonal"] * (grad.norm(dim=-1) - 1).abs().mean()
    )

"""Why a residual edit model trained from the identity does not find the exact symmetrization.

With output-capacity expansion k = 2 the exact symmetrize(axis) is representable: the edited INR averages the
source and a copy whose first-layer column ``axis`` is negated. This script walks the straight path between
the two: the copy's column scaled by s, from s = 1 (the identity edit, where training starts) to s = -1 (the
exact edit), and prints the functional loss (MSE against the exact target at the sample points) along it. If
the loss first rises, the identity is a local minimum on this path and gradient descent on the functional loss
has a barrier to cross.

    .venv/bin/python scripts/symmetrize_landscape.py --zoo zoos/fmnist --axis y
    .venv/bin/python scripts/symmetrize_landscape.py --zoo zoos/sdf --axis x
"""

from __future__ import annotations

import argparse

import torch

from dws_edit.data import load_zoo
from dws_edit.edits import domain_of, get_edit
from dws_edit.inr import evaluate
from dws_edit.inr.domains import get_domain
from dws_edit.runner import edit_targets
from dws_edit.weights import WeightSpace, concat_networks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", default="zoos/fmnist", help="zoo folder (its test split is used)")
    parser.add_argument("--axis", default="y", help="the symmetrize axis: x, y or z")
    parser.add_argument("--count", type=int, default=128, help="test INRs")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ws = load_zoo(args.zoo, "test").ws[: args.count]
    domain = domain_of(ws.spec)
    edit = get_edit("symmetrize")
    params = edit.validate({"axis": args.axis}, domain)
    column = int(params["axis"][0])
    g = torch.Generator().manual_seed(0)
    coords = get_domain(domain).edit_points(ws, 4096, g)
    target = edit_targets(edit, ws, coords, params, domain)
    print(f"{ws.batch_size} test INRs of {args.zoo}; symmetrize axis {args.axis}; k = 2 path from the identity")
    print("s (copy's column scale)   MSE against the exact target")
    for s in (1.0, 0.9, 0.75, 0.5, 0.25, 0.0, -0.25, -0.5, -0.75, -1.0):
        w0 = ws.weights[0].clone()
        w0[..., column] *= s
        copy = WeightSpace(ws.spec, (w0, *ws.weights[1:]), ws.biases)
        with torch.no_grad():
            mse = (evaluate(concat_networks([ws, copy], [0.5, 0.5]), coords) - target).square().mean().item()
        print(f"{s:+.2f}                      {mse:.4g}")


if __name__ == "__main__":
    main()

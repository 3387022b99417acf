"""Minimal equivalents of other projects' SIREN modules (the projects are not imported), with the state-dict keys
and forward passes of their code: for the tests of ``import_siren`` and ``export_siren``."""

import math

import torch
from torch import nn


class Sine(nn.Module):
    def __init__(self, w0: float):
        super().__init__()
        self.w0 = w0

    def forward(self, x):
        return torch.sin(self.w0 * x)


class LucidrainsSiren(nn.Module):  # siren_pytorch.Siren: weight and bias parameters, F.linear, then Sine(w0)
    def __init__(self, dim_in, dim_out, w0, use_bias=True, activation=None):
        super().__init__()
        bound = 1 / dim_in if w0 == 30.0 else math.sqrt(6 / dim_in) / w0
        self.weight = nn.Parameter(torch.empty(dim_out, dim_in).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(dim_out).uniform_(-bound, bound)) if use_bias else None
        self.activation = Sine(w0) if activation is None else activation

    def forward(self, x):
        return self.activation(nn.functional.linear(x, self.weight, self.bias))


class LucidrainsSirenNet(nn.Module):  # siren_pytorch.SirenNet (w0_initial=30, w0=1, final activation Identity)
    def __init__(self, dim_in, dim_hidden, dim_out, num_layers, w0=1.0, w0_initial=30.0, use_bias=True, old=False):
        super().__init__()
        layers = [
            LucidrainsSiren(dim_in if i == 0 else dim_hidden, dim_hidden, w0_initial if i == 0 else w0, use_bias)
            for i in range(num_layers)
        ]
        if old:  # releases before the ModuleList: self.net = nn.Sequential(*layers)
            self.net = nn.Sequential(*layers)
        else:
            self.layers = nn.ModuleList(layers)
        self.last_layer = LucidrainsSiren(dim_hidden, dim_out, w0, use_bias, activation=nn.Identity())

    def forward(self, x):
        for layer in self.net if hasattr(self, "net") else self.layers:
            x = layer(x)
        return self.last_layer(x)


class SineLayer(nn.Module):  # vsitzmann/siren explore_siren.ipynb
    def __init__(self, n_in, n_out, omega_0):
        super().__init__()
        self.omega_0 = omega_0
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, x):
        return torch.sin(self.omega_0 * self.linear(x))


class VsitzmannSiren(nn.Module):
    def __init__(
        self, n_in, hidden, hidden_layers, n_out, outermost_linear=True, first_omega_0=30, hidden_omega_0=30.0
    ):
        super().__init__()
        net = [SineLayer(n_in, hidden, first_omega_0)]
        net += [SineLayer(hidden, hidden, hidden_omega_0) for _ in range(hidden_layers)]
        net.append(nn.Linear(hidden, n_out) if outermost_linear else SineLayer(hidden, n_out, hidden_omega_0))
        self.net = nn.Sequential(*net)

    def forward(self, x):
        return self.net(x)


class FCBlock(nn.Module):  # vsitzmann/siren modules.FCBlock(nonlinearity='sine', outermost_linear=True)
    def __init__(self, n_in, hidden, hidden_layers, n_out):
        super().__init__()
        net = [nn.Sequential(nn.Linear(n_in, hidden), Sine(30.0))]
        net += [nn.Sequential(nn.Linear(hidden, hidden), Sine(30.0)) for _ in range(hidden_layers)]
        net.append(nn.Sequential(nn.Linear(hidden, n_out)))
        self.net = nn.Sequential(*net)

    def forward(self, x):
        return self.net(x)


class SingleBVPNet(nn.Module):
    def __init__(self, *args):
        super().__init__()
        self.net = FCBlock(*args)

    def forward(self, x):
        return self.net(x)


class DWSNetsINR(nn.Module):  # AvivNavon/DWSNets nn/inr.py INR(in_dim=2, n_layers=3, up_scale=16): Siren w0=30
    def __init__(self, in_dim=2, n_layers=3, up_scale=16, out_channels=1):
        super().__init__()
        hidden = in_dim * up_scale
        layers = [LucidrainsSiren(in_dim, hidden, 30.0)]
        layers += [LucidrainsSiren(hidden, hidden, 30.0) for _ in range(n_layers - 2)]
        layers.append(nn.Linear(hidden, out_channels))
        self.seq = nn.Sequential(*layers)

    def forward(self, x):
        return self.seq(x) + 0.5


def sine_sequential(sizes, w0=30.0):
    """nn.Sequential(Linear, Sine(w0), ..., Linear) through ``sizes`` (d0, ..., dL): keys {2i}.weight/bias."""
    layers = []
    for i, (n, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(n, o)] + ([Sine(w0)] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)

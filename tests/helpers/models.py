"""Stand-in edit models for tests of what happens around a model's pass (the guard, compaction)."""

import torch
from torch import nn

from dws_edit.edits.exact import symmetrize_exact


class ExactSymmetrize(nn.Module):
    """A "model" whose pass is the exact symmetrize about the axis its one-hot condition picks (hidden widths x 2)."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, ws, cond):
        return symmetrize_exact(ws, int(cond[0].argmax()))

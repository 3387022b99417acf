"""A zoo split as a PyTorch Dataset (:class:`ZooDataset`)."""

from __future__ import annotations

import torch
from torch import Tensor

from dws_edit.data.zoo import ZooSplit
from dws_edit.weights import WeightSpace


class ZooDataset(torch.utils.data.Dataset):
    """A zoo split as a PyTorch Dataset of ``(WeightSpace batch, labels)``: use with ``batch_size`` in a DataLoader
    (``loader()``; batches are built whole by ``__getitems__``). The weights are as fitted: normalization belongs
    to the model (its statistics are buffers, taken from ``zoo.stats``).

    ``augment``: apply a fresh random permutation of the hidden neurons to every INR of a batch (the same
    functions, other weights), drawn from a generator seeded with ``seed``.
    """

    def __init__(self, zoo: ZooSplit, augment: bool = False, *, seed: int = 0):
        self.zoo, self.augment = zoo, augment
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.zoo)

    def __getitems__(self, indices: list[int]) -> tuple[WeightSpace, Tensor]:
        idx = torch.as_tensor(indices)
        ws = self.zoo.ws[idx]
        if self.augment:
            ws = ws.permute(ws.random_permutations(self.generator))
        return ws, self.zoo.labels[idx]

    def __getitem__(self, i: int) -> tuple[WeightSpace, Tensor]:
        ws, labels = self.__getitems__([i])
        return ws, labels[0]

    def loader(self, batch_size: int, shuffle: bool = True, seed: int = 0) -> torch.utils.data.DataLoader:
        """Batches of ``batch_size`` INRs, shuffled by a generator seeded with ``seed``."""
        g = torch.Generator().manual_seed(seed)
        return torch.utils.data.DataLoader(self, batch_size=batch_size, shuffle=shuffle, generator=g, collate_fn=_whole)


def _whole(batch):
    return batch

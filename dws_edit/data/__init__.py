"""Sources of INRs (real images, sine waves, procedural shapes, fields, meshes) and the zoo on disk.

A source (:class:`Source`) is a plain data provider; :func:`fit_zoo` fits one into a zoo directory with
:class:`FitOptions`; :func:`load_zoo` reads a split back and :class:`ZooDataset` batches it.
"""

from dws_edit.data.dataset import ZooDataset
from dws_edit.data.sources import Batch, ImageSource, MeshSource, ShapeSource, SineSource, Source
from dws_edit.data.zoo import (
    FitOptions,
    ZooFitError,
    ZooQualityWarning,
    ZooSplit,
    fit_zoo,
    load_zoo,
    read_manifest,
)

__all__ = [
    "Batch",
    "FitOptions",
    "ImageSource",
    "MeshSource",
    "ShapeSource",
    "SineSource",
    "Source",
    "ZooDataset",
    "ZooFitError",
    "ZooQualityWarning",
    "ZooSplit",
    "fit_zoo",
    "load_zoo",
    "read_manifest",
]

"""dws-edit: edit implicit neural representations directly in weight space.

The public API, and nothing else:

- INRs in and out: ``fit_image``, ``fit_mesh``, ``fit_shape``, ``load_inr``, ``save_inr``, ``import_siren``,
  ``export_siren``, ``load_nerf`` (a dws-nerf run's field; ``dws_edit.inr.nerf_runs.write_nerf_run`` writes one
  back);
- editing: ``edit``, ``available_edits``; models: ``load_model``, ``available_models``; INR classification:
  ``classify``;
- types: ``NetworkSpec``, ``WeightSpace``, ``WeightStats``;
- subpackages: ``dws_edit.nn`` (equivariant layers, models, baselines), ``dws_edit.inr`` (INR specs,
  evaluation, batched fitting), ``dws_edit.data`` (sources and zoos), ``dws_edit.edits`` (each edit's
  definition and the exact weight-space edits).
"""

from dws_edit import data, edits, inr, nn
from dws_edit.api import available_edits, classify, edit, fit_image, fit_mesh, fit_shape
from dws_edit.checkpoints import available_models, load_model
from dws_edit.inr.exports import export_siren
from dws_edit.inr.files import load_inr, read_inr, save_inr
from dws_edit.inr.imports import import_siren
from dws_edit.inr.nerf_runs import load_nerf
from dws_edit.stats import WeightStats
from dws_edit.weights import NetworkSpec, WeightSpace

__version__ = "0.1.0"

__all__ = [
    "NetworkSpec",
    "WeightSpace",
    "WeightStats",
    "available_edits",
    "available_models",
    "classify",
    "data",
    "edit",
    "edits",
    "export_siren",
    "fit_image",
    "fit_mesh",
    "fit_shape",
    "import_siren",
    "inr",
    "load_inr",
    "load_model",
    "load_nerf",
    "nn",
    "read_inr",
    "save_inr",
    "__version__",
]

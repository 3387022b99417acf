"""dws-edit: edit implicit neural representations directly in weight space.

Public API: ``NetworkSpec``, ``WeightSpace``, ``WeightStats``, and the subpackages ``dws_edit.nn``
(equivariant layers, models, baselines), ``dws_edit.inr`` (INR specs, evaluation, batched fitting) and
``dws_edit.data`` (image, sine and 3-D sources; the zoo on disk).
"""

from dws_edit import data, inr, nn
from dws_edit.weights import NetworkSpec, WeightSpace, WeightStats

__version__ = "0.1.0"

__all__ = ["NetworkSpec", "WeightSpace", "WeightStats", "data", "inr", "nn", "__version__"]

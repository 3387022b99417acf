"""dws-edit: edit implicit neural representations directly in weight space.

Public API: ``NetworkSpec``, ``WeightSpace``, ``WeightStats``, and the subpackages ``dws_edit.nn``
(equivariant layers, models, baselines) and ``dws_edit.inr`` (INR evaluation).
"""

from dws_edit import inr, nn
from dws_edit.weights import NetworkSpec, WeightSpace, WeightStats

__version__ = "0.1.0"

__all__ = ["NetworkSpec", "WeightSpace", "WeightStats", "inr", "nn", "__version__"]

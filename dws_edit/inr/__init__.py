"""INR architectures, their one batched evaluation, and batched fitting."""

from dws_edit.inr.evaluate import evaluate, layer_values
from dws_edit.inr.exports import export_siren, save_siren
from dws_edit.inr.files import load_inr, read_inr, save_inr
from dws_edit.inr.fitting import FitResult, fit, fit_images, psnr_from_mse
from dws_edit.inr.imports import SIREN_FORMATS, import_siren
from dws_edit.inr.siren import canonical_phases, field_spec, grid_coords, image_spec, init_siren, sdf_spec, sine_spec

__all__ = [
    "SIREN_FORMATS",
    "export_siren",
    "import_siren",
    "save_siren",
    "load_inr",
    "read_inr",
    "save_inr",
    "FitResult",
    "canonical_phases",
    "evaluate",
    "field_spec",
    "fit",
    "fit_images",
    "grid_coords",
    "layer_values",
    "image_spec",
    "init_siren",
    "psnr_from_mse",
    "sdf_spec",
    "sine_spec",
]

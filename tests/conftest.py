import sys
from pathlib import Path

import torch
from hypothesis import HealthCheck, settings

torch.set_num_threads(2)
sys.path.insert(0, str(Path(__file__).parent))  # shared helpers: tests/helpers

settings.register_profile("dws", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("dws")

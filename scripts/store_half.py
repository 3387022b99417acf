"""Re-store shipped models' parameters as float16 (half the file; loaded as float32), in place.

    .venv/bin/python scripts/store_half.py sdf-smooth sdf-remove ...

What ``dws-edit models publish --half`` does for a new run, for models already in checkpoints/ whose runs are gone.
Their cards keep the float32 measurements until re-measured: run ``dws-edit bench edit ... --write-cards`` after.
"""

import sys

from dws_edit.checkpoints import checkpoint_dir, load_checkpoint, save_checkpoint

for name in sys.argv[1:]:
    path = checkpoint_dir() / f"{name}.safetensors"
    model = load_checkpoint(path)
    before = path.stat().st_size
    save_checkpoint(path, model, model.card.get("model_kwargs", {}), model.card, half=True)
    print(f"{name}: {before:,} -> {path.stat().st_size:,} bytes")

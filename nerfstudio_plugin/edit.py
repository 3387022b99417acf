"""``ns-edit``: edit a dws-nerf run in weight space and write the edited run, which stock ``ns-render``,
``ns-eval`` and ``ns-viewer`` load.

``ns-edit --method dws-symmetrize --load-config outputs/mug/dws-nerf/RUN/config.yml --output-dir outputs --axis x``
reads the run's field (:func:`dws_edit.inr.nerf_runs.load_nerf`: config.yml parsed as YAML nodes, the checkpoint
with ``weights_only=True``; nerfstudio's own ``eval_setup`` is not used, as it unpickles both), edits it through
:func:`dws_edit.edit` and writes ``{output-dir}/{experiment}/dws-nerf/{timestamp}/`` (default timestamp: the
method's name) atomically (:func:`dws_edit.inr.nerf_runs.write_nerf_run`). The source run is only read.

Methods, from dws-edit's edit registry (:mod:`dws_edit.edits`):

- ``dws-<edit>``: the learned edit (one forward pass of a shipped DWS model, then the never-worse guard of
  :func:`dws_edit.guard.guard`), ``--refine-steps N`` for the hybrid (N Adam steps on the edit's target after the
  pass);
- ``<exact edit>`` (``mirror``, ``translate``, ``rotate``, ``scale``, ``symmetrize-exact``): closed forms on the
  weights, exact to float precision (``symmetrize-exact`` doubles the hidden widths);
- ``finetune-<edit>``: the baseline without a DWS model: ``--refine-steps`` (default 300) Adam steps from the
  unedited field toward the edit's functional target at 3-D points (distillation, :func:`dws_edit.runner.refine`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import tyro

from dws_edit.cli.edit import OPTIONS, with_edit_options
from dws_edit.edits import REGISTRY

PROG = "ns-edit"
DOMAIN = "field"
FINETUNE_STEPS = 300


def _methods() -> dict[str, tuple[str, str]]:
    """ns-edit method name -> (how, registry edit): learned edits of the field domain as dws-*, those whose target
    is a function of the field also as finetune-*, exact edits whose parameters the command line can give."""
    methods: dict[str, tuple[str, str]] = {}
    for name, e in REGISTRY.items():
        if DOMAIN not in e.domains or e.kind != "learned":
            continue
        methods[f"dws-{name.replace('_', '-')}"] = ("dws", name)
    for name, e in REGISTRY.items():
        if DOMAIN in e.domains and e.kind == "learned" and not e.from_generator:
            methods[f"finetune-{name.replace('_', '-')}"] = ("finetune", name)
    for name, e in REGISTRY.items():
        if DOMAIN in e.domains and e.kind == "exact" and all(p.name in OPTIONS or p.optional for p in e.params(DOMAIN)):
            methods[name.replace("_", "-")] = ("exact", name)
    return methods


METHODS = _methods()
MethodName = Literal[tuple(METHODS)]  # type: ignore[valid-type]
MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply", ".stl", ".off")


@dataclass
class _NsEditOptions:
    """Edit a dws-nerf run in weight space (learned DWS edits, exact edits, a fine-tuning baseline) and write the
    edited run for ns-render, ns-eval and ns-viewer."""

    method: Annotated[MethodName, tyro.conf.arg(metavar="{" + ",".join(METHODS) + "}")]
    """dws-EDIT: a shipped DWS model's forward pass (then the never-worse guard); finetune-EDIT: Adam steps toward
    the edit's target from the unedited field (the baseline); the rest: exact closed forms on the weights."""
    load_config: Path
    """The config.yml of a dws-nerf run (ns-train dws-nerf writes it), or the run's folder."""
    output_dir: Path = Path("outputs")
    """Where runs go, as ns-train's --output-dir: the edited run is OUTPUT_DIR/EXPERIMENT/dws-nerf/TIMESTAMP."""
    experiment_name: str | None = None
    """Experiment name of the edited run (default: the source run's)."""
    timestamp: str | None = None
    """Folder name of the edited run (default: the method, e.g. dws-symmetrize)."""
    data: Path | None = None
    """The scene folder the run trained on, if its recorded path does not lead there from here."""
    refine_steps: int | None = None
    """dws-*: Adam steps on the edit's target after the pass (default 0: the pass alone); finetune-*: the steps
    (default 300)."""
    guard: int = 100
    """dws-*: never worse than not editing: a pass not clearly better than no edit gets up to this many refine
    steps, else the field comes back unedited, with a warning (0: check and fall back only)."""
    width: Literal["input", "wide"] | None = None
    """Hidden widths of the edited field: input (learned edits' default: compacted back to the run's widths) or
    wide (exact edits' default: the closed form's own widths, e.g. doubled by symmetrize-exact)."""
    model: str | None = None
    """dws-*: a checkpoint name or .safetensors path to use instead of the shipped model."""
    export_mesh: Path | None = None
    """Also write the edited density's surface as a mesh with its colors (.glb, .gltf, .obj, .ply, .stl or .off)."""
    mesh_level: float | None = None
    """The density of --export-mesh's surface (default: 1/2, the field domain's, where the density reaches it, else
    half the density's maximum on the mesh grid: NeRFs trained from images often stay far below 1/2)."""
    overwrite: bool = False
    """Replace an existing edited run of the same name (never the source run)."""

    def run(self) -> Path:
        import torch

        from dws_edit.api import edit
        from dws_edit.console import console
        from dws_edit.inr.nerf_runs import find_run, load_nerf, run_folder, write_nerf_run
        from dws_edit.runner import refine

        how, name = METHODS[self.method]
        definition = REGISTRY[name]
        params = {k: getattr(self, k, None) for k in OPTIONS if getattr(self, k, None) is not None}
        definition.check_names(params, DOMAIN)
        if self.refine_steps is not None and not 0 <= self.refine_steps <= 10000:
            raise ValueError(f"--refine-steps {self.refine_steps}: accepted: an integer in [0, 10000]")
        if self.refine_steps and how == "exact":
            raise ValueError(f"--refine-steps goes with dws-* and finetune-* methods; {self.method} is exact")
        if self.export_mesh is not None:
            if self.export_mesh.suffix.lower() not in MESH_SUFFIXES:
                raise ValueError(f"--export-mesh {self.export_mesh}: accepted suffixes: {', '.join(MESH_SUFFIXES)}")
            if not self.export_mesh.resolve().parent.is_dir():
                raise ValueError(f"--export-mesh {self.export_mesh}: no such folder {self.export_mesh.parent}")
        run = find_run(self.load_config)
        data = self._data(run)
        out = run_folder(self.output_dir.resolve(), self.experiment_name or run.experiment_name,
                         self.timestamp or self.method)  # fmt: skip
        if file := next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None):
            raise ValueError(f"--output-dir {self.output_dir}: {file} is a file; accepted: a folder")
        if out.resolve() == run.config_path.parent.resolve():
            raise ValueError(f"{out}: is the source run; give another --timestamp or --output-dir")
        if out.exists() and not self.overwrite:
            raise ValueError(f"{out}: exists; choose another --timestamp or --output-dir, or add --overwrite")
        ws = load_nerf(run)
        started, report = time.perf_counter(), None
        if how == "dws":
            edited, report = edit(ws, name, refine=self.refine_steps or 0, guard=self.guard, width=self.width,
                                  model=self.model, report=True, **params)  # fmt: skip
        elif how == "finetune":
            steps = FINETUNE_STEPS if self.refine_steps is None else self.refine_steps
            edited = refine(ws, ws, name, params, steps)
        else:
            edited = edit(ws, name, width=self.width, **params)
        seconds = time.perf_counter() - started
        edited = edited.to(torch.float32)
        mesh = None
        if self.export_mesh is not None:
            from dws_edit.render import inr_to_mesh

            level = self.mesh_level if self.mesh_level is not None else _auto_level(edited)
            mesh = inr_to_mesh(edited, level=level)
        record = {"command": " ".join([PROG, *sys.argv[1:]]), "method": self.method, "edit": name, "how": how,
                  "params": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
                  "source": str(run.config_path.resolve()), "source_step": run.step, "seconds": seconds,
                  "hidden": list(edited.spec.hidden_sizes), "guard": report.to_dict() if report else None}  # fmt: skip
        config = write_nerf_run(run, edited, self.output_dir, out.parent.parent.name, out.name, data, record,
                                self.overwrite)  # fmt: skip
        if report is not None:
            console.print(report.summary())
        if mesh is not None:
            from dws_edit.render import save_mesh

            save_mesh(mesh, self.export_mesh)
            console.print(f"wrote {self.export_mesh} (the edited field's surface at density {level:.3g})")
        console.print(f"{self.method}: {run.config_path} -> {config} in {seconds:.2f} s (hidden widths "
                      f"{edited.spec.hidden_sizes}); render it: ns-render dataset --load-config {config} --split test "
                      "--image-format png")  # fmt: skip
        return config

    def _data(self, run) -> Path:
        data = self.data if self.data is not None else run.data
        if data is None:
            raise ValueError(f"{run.config_path}: records no dataset; pass --data SCENE_DIR (the scene it trained on)")
        if not (data / "transforms_train.json").is_file():
            how = "--data" if self.data is not None else f"the run's dataset {data}"
            raise ValueError(f"{how}: no scene there (no transforms_train.json) from {Path.cwd()}; pass --data "
                             "SCENE_DIR (the Blender-format scene the run trained on)")  # fmt: skip
        return data.resolve()


def _auto_level(ws) -> float:
    """1/2 where the field's density reaches it on a 64^3 grid of [-1, 1]^3, else half its maximum there."""
    import torch

    from dws_edit.inr.evaluate import evaluate
    from dws_edit.inr.siren import cube_grid

    with torch.no_grad():
        peak = max(float(evaluate(ws, chunk)[0, :, 0].max()) for chunk in cube_grid(64).reshape(-1, 3).split(65536))
    return 0.5 if peak >= 0.5 else peak / 2


NsEdit = with_edit_options(_NsEditOptions, "NsEdit", __name__, tuple(dict.fromkeys(e for _, e in METHODS.values())))


def main(argv: list[str] | None = None) -> None:
    """The ``ns-edit`` console script: usage errors and refused inputs as one line on stderr (exit 2)."""
    from dws_edit.cli import reflow_help
    from dws_edit.cli.errors import UsageError, parse

    reflow_help()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        config = parse(lambda a: tyro.cli(NsEdit, args=a, prog=PROG), args, NsEdit, PROG)
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        config.run()
    except (ValueError, OSError) as err:  # OSError: a folder that cannot be written, a full disk
        print(f"{PROG}: error: {str(err).strip().splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (nothing half-written)", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()

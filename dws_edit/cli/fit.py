"""``dws-edit fit <source>``: fit a zoo of INRs from one source, resumably, with a progress bar and an ETA.

One config per source command: the source's settings and the fit options, each a nested dataclass whose flags
stay flat (``--dataset``, ``--lr``, ...; ``tyro.conf.OmitArgPrefixes``). ``--seed`` is the source's and also
seeds the INRs' initialisations, unless ``--init-seed`` is given. A fit in which fewer INRs than ``--min-reached``
reach their target prints its summary and fails with one line (:class:`~dws_edit.data.zoo.ZooFitError`, a ValueError).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import tyro

from dws_edit.console import console
from dws_edit.data.sources import ImageSource, MeshSource, ShapeSource, SineSource
from dws_edit.data.zoo import FitOptions, ZooFitError, fit_zoo

Flat = tyro.conf.OmitArgPrefixes


@dataclass(frozen=True)
class FitFlags(FitOptions):
    """FitOptions as flags; their seed is the source's --seed."""

    seed: tyro.conf.Suppress[int] = 0
    """Set from the source's --seed (or --init-seed)."""
    init_seed: int | None = None
    """Seed of the INRs' initialisations alone (default: the source's --seed). Another value fits the same items
    in the same splits from other initialisations: a second zoo of the same images, for more training INRs."""


@dataclass
class _FitCommand:
    out: Path = Path("zoos/zoo")
    """Zoo directory (created; a rerun resumes it, fitting only the missing shards)."""

    def run(self) -> dict:
        """Fit the zoo and print its summary; raises ZooFitError (after the summary) when too few INRs reached."""
        source, flags = self.source, self.fit  # declared by each command
        fields = dataclasses.asdict(flags)
        init_seed = fields.pop("init_seed")
        options = FitOptions(**{**fields, "seed": source.seed if init_seed is None else init_seed})
        try:
            manifest = fit_zoo(source, self.out, options)
        except ZooFitError as err:
            console.print_json(data=err.manifest["summary"])
            raise  # the CLI prints its one line
        console.print_json(data=manifest["summary"])
        return manifest


@dataclass
class FitImages(_FitCommand):
    """Fit image SIRENs (2->32->32->1, sin(30x), offset +0.5) to a real image data set."""

    source: Annotated[ImageSource, Flat] = field(default_factory=ImageSource)
    """The image data set and the fit target."""
    fit: Annotated[FitFlags, Flat] = field(default_factory=lambda: FitFlags.for_source(ImageSource))
    """How the INRs are fitted (--seed above also seeds their initialisations)."""


@dataclass
class FitSines(_FitCommand):
    """Fit sine-wave SIRENs (1->32->32->1) to a sin(bx), a, b ~ U(0, 10)."""

    source: Annotated[SineSource, Flat] = field(default_factory=SineSource)
    """The sine waves and the fit target."""
    fit: Annotated[FitFlags, Flat] = field(default_factory=lambda: FitFlags.for_source(SineSource))
    """How the INRs are fitted (--seed above also seeds their initialisations)."""


@dataclass
class FitShapes(_FitCommand):
    """Fit SDF SIRENs (3->32->32->1; --hidden for others) of procedural shapes, or colored fields (--field)."""

    source: Annotated[ShapeSource, Flat] = field(default_factory=ShapeSource)
    """The shapes and the fit target."""
    fit: Annotated[FitFlags, Flat] = field(default_factory=lambda: FitFlags.for_source(ShapeSource))
    """How the INRs are fitted (--seed above also seeds their initialisations)."""


@dataclass
class FitMeshes(_FitCommand):
    """Fit SDF SIRENs (3->32->32->1) to a folder of meshes, every file checked first (open scans: with a warning).

    Inside and outside come from generalized winding numbers, so open scans are fitted too, with a warning."""

    source: Annotated[MeshSource, Flat] = field(default_factory=MeshSource)
    """The mesh folder and the fit target."""
    fit: Annotated[FitFlags, Flat] = field(default_factory=lambda: FitFlags.for_source(MeshSource))
    """How the INRs are fitted (--seed above also seeds their initialisations)."""


@dataclass
class FitClassifiers:
    """Train a population of small Fashion-MNIST classifiers (ReLU MLPs) as a zoo, for dws-edit train adapt."""

    out: Path = Path("zoos/fmnist-classifiers")
    """Zoo directory (created; a complete zoo of the same settings is left as it is)."""
    count: int = 1000
    """Classifiers in all (val and test splits included)."""
    size: int = 7
    """Images are reduced to SIZE x SIZE pixels by area averaging (the classifiers' input: SIZE^2 features)."""
    hidden: tuple[int, ...] = (32, 32)
    """Hidden widths of every classifier."""
    steps: int = 400
    """Adam steps per classifier (batches of 128 source-domain training images)."""
    lr: float = 3e-3
    """Adam learning rate."""
    val_count: int = 100
    """Validation classifiers."""
    test_count: int = 100
    """Test classifiers."""
    seed: int = 0
    """Seed of the initialisations, the batches and the split."""

    def run(self) -> dict:
        from dws_edit.data.classifiers import fit_population

        for name, value in (
            ("count", self.count),
            ("size", self.size),
            ("steps", self.steps),
            ("hidden", min(self.hidden)),
        ):
            if value < 1:
                raise ValueError(f"--{name} {value}: expected a positive number")
        if not self.lr > 0:
            raise ValueError(f"--lr {self.lr}: expected a learning rate above 0")
        manifest = fit_population(self.out, self.count, self.size, self.hidden, self.steps, self.lr, self.val_count,
                                  self.test_count, self.seed)  # fmt: skip
        console.print_json(data=manifest["summary"])
        return manifest


FIT_COMMANDS: dict[str, type] = {"images": FitImages, "sines": FitSines, "shapes": FitShapes, "meshes": FitMeshes,
                                 "classifiers": FitClassifiers}  # fmt: skip

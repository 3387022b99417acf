"""Sources of INRs (real images, sine waves, procedural shapes, fields, meshes) and the zoo on disk."""

from dws_edit.data.zoo import ZooDataset, ZooSplit, fit_zoo, load_zoo, read_manifest

__all__ = ["ZooDataset", "ZooSplit", "fit_zoo", "load_zoo", "read_manifest"]

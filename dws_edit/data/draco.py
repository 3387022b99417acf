"""Draco-compressed glTF binaries (``KHR_draco_mesh_compression``), common on the web, which trimesh reads as
all-zero vertices: detect them, and decode their triangles with DracoPy (Google's Draco decoder).

The container is read as the glTF 2.0 specification lays it out (Khronos, "glTF 2.0", section 4.4 GLB file
format): a 12-byte header, a JSON chunk and a binary chunk; every mesh primitive carrying the extension points at
a buffer view holding one Draco stream. Node transforms (``matrix`` or translation/rotation/scale) are applied.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

DRACO_EXTENSION = "KHR_draco_mesh_compression"
_GLB_MAGIC, _JSON, _BIN = b"glTF", 0x4E4F534A, 0x004E4942


def _glb_chunks(data: bytes) -> tuple[dict, bytes]:
    """(the JSON document, the binary chunk) of a GLB; ValueError for a truncated or foreign file."""
    if len(data) < 20 or data[:4] != _GLB_MAGIC:
        raise ValueError("not a binary glTF (.glb) file: it does not start with 'glTF'")
    _, _, length = struct.unpack_from("<4sII", data, 0)
    if length > len(data):
        raise ValueError(f"truncated .glb: the header says {length} bytes, the file has {len(data)}")
    doc, binary, offset = None, b"", 12
    while offset + 8 <= length:
        size, kind = struct.unpack_from("<II", data, offset)
        chunk = data[offset + 8 : offset + 8 + size]
        if kind == _JSON:
            doc = json.loads(chunk.decode("utf-8"))
        elif kind == _BIN:
            binary = chunk
        offset += 8 + size
    if doc is None:
        raise ValueError("corrupt .glb: no JSON chunk")
    return doc, binary


def _gltf_document(path: Path) -> dict | None:
    """The glTF JSON document of a .glb or .gltf file, or None when it cannot be parsed (trimesh will say why)."""
    try:
        data = path.read_bytes()
        return _glb_chunks(data)[0] if path.suffix.lower() == ".glb" else json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, OSError):
        return None


def uses_draco(path: str | Path) -> bool:
    """Whether a .glb/.gltf file declares ``KHR_draco_mesh_compression`` (False for other files)."""
    path = Path(path)
    if path.suffix.lower() not in (".glb", ".gltf"):
        return False
    doc = _gltf_document(path)
    return doc is not None and DRACO_EXTENSION in (doc.get("extensionsUsed", []) + doc.get("extensionsRequired", []))


def _quat_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _node_matrix(node: dict) -> np.ndarray:
    if "matrix" in node:
        return np.array(node["matrix"], dtype=np.float64).reshape(4, 4).T  # glTF stores column-major
    m = np.eye(4)
    m[:3, :3] = _quat_matrix(*node.get("rotation", (0, 0, 0, 1))) * np.array(node.get("scale", (1, 1, 1)))
    m[:3, 3] = node.get("translation", (0, 0, 0))
    return m


def load_draco_glb(path: str | Path):
    """Decode every Draco-compressed triangle primitive of a .glb into one ``trimesh.Trimesh`` in scene
    coordinates. Raises ValueError for a .gltf (external buffers: convert it to .glb), a corrupt stream, or a file
    without Draco triangles."""
    import DracoPy
    import trimesh

    path = Path(path)
    if path.suffix.lower() != ".glb":
        raise ValueError(f"{path}: Draco-compressed .gltf is not read; accepted: the same scene as one .glb file")
    doc, binary = _glb_chunks(path.read_bytes())
    views, meshes, nodes = doc.get("bufferViews", []), doc.get("meshes", []), doc.get("nodes", [])
    parts: list = []

    def visit(index: int, parent: np.ndarray) -> None:
        node = nodes[index]
        world = parent @ _node_matrix(node)
        for prim in meshes[node["mesh"]]["primitives"] if "mesh" in node else []:
            ext = prim.get("extensions", {}).get(DRACO_EXTENSION)
            if ext is None or prim.get("mode", 4) != 4:
                continue
            view = views[ext["bufferView"]]
            start = view.get("byteOffset", 0)
            try:
                decoded = DracoPy.decode(binary[start : start + view["byteLength"]])
            except Exception as err:  # DracoPy raises its own decoding errors
                raise ValueError(f"{path}: corrupt Draco stream in mesh {node['mesh']} ({err})") from None
            faces = np.asarray(decoded.faces, dtype=np.int64).reshape(-1, 3)
            points = np.asarray(decoded.points, dtype=np.float64).reshape(-1, 3)
            parts.append(trimesh.Trimesh(points @ world[:3, :3].T + world[:3, 3], faces, process=False))
        for child in node.get("children", []):
            visit(child, world)

    scene = doc.get("scenes", [{}])[doc.get("scene", 0)] if doc.get("scenes") else {"nodes": range(len(nodes))}
    for root in scene.get("nodes", []):
        visit(root, np.eye(4))
    if not parts:
        raise ValueError(f"{path}: no Draco-compressed triangles in the file")
    return trimesh.util.concatenate(parts)

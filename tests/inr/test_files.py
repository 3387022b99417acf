import json
import os

import pytest
import torch

from dws_edit import io
from dws_edit.inr import image_spec, sdf_spec
from dws_edit.inr.files import INR_FORMAT, load_inr, read_inr, save_inr
from dws_edit.weights import NetworkSpec, WeightSpace


def random_inrs(spec: NetworkSpec = None, batch: int = 3, seed: int = 0) -> WeightSpace:
    return WeightSpace.randn(spec or image_spec(), batch, generator=torch.Generator().manual_seed(seed))


def header(net_spec: NetworkSpec, **extra) -> dict[str, str]:
    meta = {"format": INR_FORMAT, "version": "1", "spec": net_spec.to_json(), "edit_history": "[]"}
    meta.update(extra)
    return {k: v for k, v in meta.items() if v is not None}


def refused(path, match: str | None = None) -> str:
    with pytest.raises(ValueError, match=match) as info:
        load_inr(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


def test_round_trip_keeps_weights_spec_and_edit_history(tmp_path):
    spec = NetworkSpec((3, 16, 16, 1), w0=15.0, output_offset=0.0)
    ws = random_inrs(spec, batch=3)
    history = [{"edit": "dilate", "amount": 0.1}, {"edit": "rotate", "angle": 30}]
    save_inr(tmp_path / "a.safetensors", ws, history)
    back, head = read_inr(tmp_path / "a.safetensors")
    assert back.spec == spec and back.batch_size == 3 and back.dtype == torch.float32
    for x, y in zip(ws.tensors(), back.tensors()):
        assert torch.equal(x, y)
    assert head == {"format": INR_FORMAT, "version": 1, "spec": spec.to_dict(), "edit_history": history}
    # the tensors are the documented state dict
    tensors, _ = io.read_file(tmp_path / "a.safetensors")
    assert set(tensors) == {f"layers.{i}.{n}" for i in range(3) for n in ("weight", "bias")}
    assert tensors["layers.1.weight"].shape == (3, 1, 16, 16) and tensors["layers.2.bias"].shape == (3, 1, 1)


def test_no_history_and_empty_batch(tmp_path):
    save_inr(tmp_path / "one.safetensors", random_inrs(batch=1))
    assert read_inr(tmp_path / "one.safetensors")[1]["edit_history"] == []
    save_inr(tmp_path / "empty.safetensors", WeightSpace.zeros(sdf_spec(), batch=0))
    empty = load_inr(tmp_path / "empty.safetensors")
    assert empty.batch_size == 0 and empty.spec == sdf_spec()


def test_one_unbatched_network_is_read_as_a_batch_of_one(tmp_path):
    ws = random_inrs(batch=1)
    tensors = {k: t[0, 0] for k, t in ws.to_state_dict().items()}  # [o, n] and [o], as nn.Linear stores them
    io.write_file(tmp_path / "single.safetensors", tensors, header(ws.spec))
    back = load_inr(tmp_path / "single.safetensors")
    assert back.batch_size == 1
    assert torch.equal(back.flatten(), ws.flatten())


def test_half_and_double_precision_are_read_as_float32(tmp_path):
    ws = random_inrs(batch=2).to(torch.float64)
    save_inr(tmp_path / "d.safetensors", ws)
    back = load_inr(tmp_path / "d.safetensors")
    assert back.dtype == torch.float32
    torch.testing.assert_close(back.flatten(), ws.flatten().float())


def write(path, ws, meta, edit=None):
    tensors = {k: t.clone() for k, t in ws.to_state_dict().items()}
    if edit:
        edit(tensors)
    io.write_file(path, tensors, meta)
    return path


def test_files_that_are_not_valid_inr_files_are_refused_in_one_line(tmp_path):
    ws = random_inrs(batch=2)
    spec = ws.spec
    refused(write(tmp_path / "nospec.safetensors", ws, header(spec, spec=None)), "no 'spec'")
    refused(write(tmp_path / "badjson.safetensors", ws, header(spec, spec="{not json")), "not valid JSON")
    bad_spec = json.dumps({"layer_sizes": [2]})
    refused(write(tmp_path / "badspec.safetensors", ws, header(spec, spec=bad_spec)), "not a valid NetworkSpec")
    other = NetworkSpec((2, 8, 1)).to_json()
    refused(write(tmp_path / "mismatch.safetensors", ws, header(spec, spec=other)), "do not match spec")

    def put_nan(t):
        t["layers.1.weight"][0, 0, 3, 4] = float("nan")

    refused(write(tmp_path / "nan.safetensors", ws, header(spec), put_nan), "NaN or Inf")

    def put_inf(t):
        t["layers.0.bias"][1, 0, 0] = float("inf")

    refused(write(tmp_path / "inf.safetensors", ws, header(spec), put_inf), "NaN or Inf")

    def to_int(t):
        t["layers.0.weight"] = t["layers.0.weight"].long()

    refused(write(tmp_path / "int.safetensors", ws, header(spec), to_int), "floating point")
    refused(write(tmp_path / "newer.safetensors", ws, header(spec, version="99")), "newer")


def test_other_kinds_of_file_are_refused(tmp_path):
    ws = random_inrs(batch=2)
    # a zoo shard holds the very same tensors and a spec, but it is not an INR file
    shard = write(tmp_path / "shard-00000.safetensors", ws, {"spec": ws.spec.to_json(), "shard": "0", "version": "1"})
    refused(shard, "zoo shard")
    refused(write(tmp_path / "model.safetensors", ws, {"card": "{}", "spec": ws.spec.to_json()}), "checkpoint")
    refused(write(tmp_path / "plain.safetensors", ws, None), "not a dws-edit INR file")
    good = tmp_path / "good.safetensors"
    save_inr(good, ws)
    data = good.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    refused(tmp_path / "cut.safetensors")
    (tmp_path / "stub.safetensors").write_bytes(data[:5])
    refused(tmp_path / "stub.safetensors", "truncated")
    (tmp_path / "text.safetensors").write_bytes(b"hello, this is not a safetensors file at all")
    refused(tmp_path / "text.safetensors", "not a safetensors file")
    (tmp_path / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    refused(tmp_path / "picture.png", "not a safetensors file")
    torch.save(ws.to_state_dict(), tmp_path / "weights.pt")
    refused(tmp_path / "weights.pt", "pickle")
    refused(tmp_path / "missing.safetensors", "does not exist")
    refused(tmp_path, "not a file")


def test_a_failing_save_leaves_the_existing_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "inr.safetensors"
    save_inr(path, random_inrs(batch=2, seed=1), [{"edit": "first"}])
    before = path.read_bytes()
    # refused before anything is written: NaN weights, feature channels, a history that is not JSON
    bad = random_inrs(batch=2, seed=2).map(lambda t: t.clone())
    bad.weights[0][0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="not saved"):
        save_inr(path, bad)
    with pytest.raises(ValueError, match="channels"):
        save_inr(path, WeightSpace.zeros(image_spec(), batch=1, channels=4))
    with pytest.raises(ValueError, match="JSON"):
        save_inr(path, random_inrs(), [{"edit": object()}])

    # the write itself fails half way (disk full at the rename): the old file is untouched, no temp file left
    def fail(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(ValueError, match=f"cannot write {path}: No space left on device"):
        save_inr(path, random_inrs(batch=2, seed=3))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inr.safetensors"]
    assert read_inr(path)[1]["edit_history"] == [{"edit": "first"}]


@pytest.mark.parametrize("name", ["x.pth", "x.pt", "x.ckpt", "x.npz", "x", "x.safetensors.bak"])
def test_save_inr_writes_safetensors_only_under_a_safetensors_name(tmp_path, name):
    """Never one format under another's name: a .pth from save_inr would be safetensors that torch.load cannot read."""
    with pytest.raises(ValueError) as err:
        save_inr(tmp_path / name, random_inrs())
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(tmp_path / name)) and "accepted: a path ending in .safetensors" in msg
    assert "save_siren" in msg  # where the other formats are written
    assert list(tmp_path.iterdir()) == []  # nothing written, no folder made
    save_inr(tmp_path / "X.SafeTensors", random_inrs())  # the suffix in any case
    assert load_inr(tmp_path / "X.SafeTensors").batch_size == 3

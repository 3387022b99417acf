"""Mistakes a new user makes on the command line, each answered in one line (what is wrong, what is accepted, the
--help to read) with exit status 2 and nothing written: tyro's own refusals (unknown options, values of the wrong
type, missing arguments), a missing --edit or --other, an option of images given for a mesh (and the reverse), and
an output file in a folder that does not exist."""

from pathlib import Path

import pytest
import torch
import trimesh
from helpers.cli import run
from PIL import Image

import dws_edit
from dws_edit.cli.edit import CLI_EDITS
from dws_edit.edits import REGISTRY
from dws_edit.inr import image_spec, init_siren


@pytest.fixture
def files(tmp_path, monkeypatch):
    """An image INR file, an image and a mesh in an otherwise empty working folder."""
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    dws_edit.save_inr(tmp_path / "x.safetensors", init_siren(image_spec(), 1))
    Image.new("L", (8, 8), 128).save(tmp_path / "photo.png")
    trimesh.creation.box().export(tmp_path / "box.obj")
    return tmp_path


def refused(capsys, folder: Path, *args) -> str:
    """The one line ``dws-edit ARGS`` answers with exit status 2, after checking nothing was written."""
    before = sorted(p.name for p in folder.rglob("*"))
    assert run(*args) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("dws-edit: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert not set("│╭╮╰╯") & set(err) and captured.out == ""  # no box, no help dumped
    assert sorted(p.name for p in folder.rglob("*")) == before  # nothing written, no folder made
    return err.removeprefix("dws-edit: error: ").strip()


@pytest.mark.parametrize(
    "args, expected",
    [
        (("edit", "x.safetensors", "--edit", "smooth", "--sigmaa", "0.1"),
         "unknown option --sigmaa for dws-edit edit (did you mean --sigma?); accepted: --edit, --out,"),
        (("fit", "images", "--bogus"), "unknown option --bogus for dws-edit fit images; accepted: --out, --dataset,"),
        (("inr", "fit", "photo.png", "--size", "abc"), "--size abc: accepted: an integer; see dws-edit inr fit --help"),
        (("inr", "render", "x.safetensors", "--scale", "1.5"), "--scale 1.5: accepted: an integer; see dws-edit inr"),
        (("edit", "x.safetensors", "--edit", "rotate", "--angle", "1", "--center", "0", "a"),
         "--center 0 a: accepted: numbers separated by spaces; see dws-edit edit --help"),
        (("edit", "x.safetensors", "--edit", "mirror", "--exact", "yes"),
         "unexpected argument 'yes' for dws-edit edit (a switch such as --exact takes no value)"),
        (("edit", "x.safetensors", "--edit", "mirror", "--out"), "--out: missing its value; accepted: a path"),
        (("inr", "fitt"), "unknown command 'fitt' for dws-edit inr (did you mean fit?); accepted: fit, render,"),
        (("frobnicate",), "unknown command 'frobnicate' for dws-edit; accepted: demo, edit, inr,"),
        (("inr",), "dws-edit inr needs a command; accepted: fit, render, import, export, info; dws-edit inr --help"),
        (("inr", "export", "x.safetensors", "y.pt"), "dws-edit inr export needs --format (a text)"),
    ],
)  # fmt: skip
def test_the_command_line_parser_refuses_in_one_line(files, capsys, args, expected):
    err = refused(capsys, files, *args)
    assert err.startswith(expected), err
    assert "--help" in err


def test_edit_requires_edit_and_lists_the_edits(files, capsys):
    err = refused(capsys, files, "edit", "x.safetensors")
    assert err == f"dws-edit edit needs --edit (one of {', '.join(CLI_EDITS)}); see dws-edit edit --help"
    assert set(REGISTRY) - set(CLI_EDITS) == {"affine"}  # its matrix: the Python API's alone
    assert not Path("edited.safetensors").exists()  # smooth was the silent default: nothing runs unnamed


def test_blend_without_other_names_the_option(files, capsys):
    err = refused(capsys, files, "edit", "x.safetensors", "--edit", "blend", "--out", "y.safetensors")
    assert err == "--other B.safetensors is required for --edit blend (the second INR file)"
    err = refused(capsys, files, "edit", "x.safetensors", "--edit", "mirror", "--axis", "x", "--other", "x.safetensors",
                  "--out", "y.safetensors")  # fmt: skip
    assert err == "--other x.safetensors: --edit mirror takes no second INR file; accepted with: --edit blend"


@pytest.mark.parametrize(
    "input, options, expected",
    [
        ("box.obj", ("--size", "5"), "--size: images only, and box.obj is a mesh; accepted for a mesh: --hidden, "
                                     "--points (and --out, --max-steps, --seed)"),
        ("box.obj", ("--channels", "3", "--target-psnr", "30"), "--channels, --target-psnr: images only, and box.obj"),
        ("photo.png", ("--hidden", "64"), "--hidden: meshes only, and photo.png is an image; accepted for an image: "
                                          "--size, --channels, --target-psnr (and --out, --max-steps, --seed)"),
        ("photo.png", ("--points", "32768"), "--points: meshes only"),  # the default's value, given: still refused
    ],
)  # fmt: skip
def test_inr_fit_refuses_an_option_of_the_other_kind_of_input(files, capsys, monkeypatch, input, options, expected):
    def no_work(*args, **kwargs):
        raise AssertionError("the input was read before its options were checked")

    monkeypatch.setattr("dws_edit.data.meshes.load_mesh", no_work)
    monkeypatch.setattr("dws_edit.data.images.image_to_tensor", no_work)
    assert refused(capsys, files, "inr", "fit", input, *options).startswith(expected)


@pytest.mark.parametrize(
    "args, flag",
    [
        (("edit", "x.safetensors", "--edit", "mirror", "--axis", "x", "--out", "{missing}/y.safetensors"), "--out"),
        (("inr", "fit", "photo.png", "--out", "{missing}/y.safetensors"), "--out"),
        (("inr", "render", "x.safetensors", "--out", "{missing}/y.png"), "--out"),
        (("inr", "export", "x.safetensors", "{missing}/y.pth", "--format", "vsitzmann"), "OUT"),
        (("inr", "import", "some.pth", "--out", "{missing}/y.safetensors"), "--out"),
        (("bench", "layers", "--out", "{missing}/result.json"), "--out"),
    ],
)
def test_an_output_file_in_a_missing_folder_is_refused_before_any_work(files, capsys, args, flag):
    missing = files / "typo" / "deeper"
    err = refused(capsys, files, *[a.format(missing=missing) for a in args])
    target = next(a for a in args if "{missing}" in a).format(missing=missing)
    assert err == (f"{flag} {target}: the folder {missing} does not exist; accepted: a file in an existing folder "
                   f"(create it first: mkdir -p {missing})")  # fmt: skip


def test_output_folders_are_created_and_files_in_existing_folders_written(files, capsys):
    from dws_edit.cli import check_out_folders
    from dws_edit.cli.fit import FitImages

    check_out_folders(FitImages(out=files / "new" / "zoo"))  # a zoo folder: created by the fit, parents too
    assert run("edit", "x.safetensors", "--edit", "mirror", "--axis", "x", "--out", "y.safetensors") == 0
    assert dws_edit.load_inr(files / "y.safetensors").batch_size == 1  # a bare name: the working folder


def test_help_reflows_multi_line_option_docstrings(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # wide enough that rich wraps nothing: every break left is the text's own
    assert run("edit", "--help") == 0
    out = capsys.readouterr().out
    assert "for SIRENs fitted by other code (e.g. imported with dws-edit inr import), which lie outside" in out
    assert "widths x 2, fitted back at the input's widths" in out  # across a source line break
    assert run("bench", "edit", "--help") == 0  # a continuation line that starts with a non-letter joins too
    assert "as the domain; ``fit_shape``'s rate) to each held-out mesh" in capsys.readouterr().out

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from onnx import numpy_helper

from bundle_helpers import FASHION_PREPROCESS, assert_detector_widths_rebuild_exactly, randomise_bn, rebuild_from_files
from conftest import needs_data
from slimmable.checkpoint import CheckpointError, load_checkpoint, load_model
from slimmable.export.__main__ import main as export_main
from slimmable.export.bundle import BundleSpec, bundle_size, write_bundle
from slimmable.export.onnx_graph import export_width
from slimmable.export.plain import bn_tensor_names, plain_copy
from slimmable.export.rebuild import RecipeError, derive_recipe, prove_sharing
from slimmable.export.tensor_file import read_tensor
from slimmable.export.unbundle import BundleLoadError
from slimmable.layers import set_width
from slimmable.models import build_model
from slimmable.train import TrainConfig, save_final


def fashion_bundle(tmp_path: Path) -> tuple[torch.nn.Module, dict, Path]:
    model = build_model("fashion_cnn").eval()
    randomise_bn(model)
    spec = BundleSpec(
        name="t", task="classification", labels=[str(i) for i in range(10)], preprocess=FASHION_PREPROCESS,
        output={"name": "logits", "kind": "logits"}, accuracy={0.25: 0.9, 0.5: 0.91, 0.75: 0.92, 1.0: 0.93},
    )
    manifest = write_bundle(model, spec, tmp_path, log=lambda _: None)
    return model, manifest, tmp_path


def test_bundle_round_trip_rebuilds_every_width_exactly(tmp_path: Path) -> None:
    model, manifest, bundle = fashion_bundle(tmp_path)
    assert sorted(p.name for p in bundle.iterdir()) == ["golden.bin", "manifest.json", "shared.onnx", "switchable_bn.bin"]
    assert json.loads((bundle / "manifest.json").read_text()) == json.loads(json.dumps(manifest))
    for entry in manifest["widths"]:
        width = entry["width"]
        own = export_width(plain_copy(model, width), (1, 28, 28), "logits")
        rebuilt = rebuild_from_files(bundle, manifest, width)
        assert [n.SerializeToString() for n in rebuilt.graph.node] == [n.SerializeToString() for n in own.graph.node]
        own_tensors = {t.name: numpy_helper.to_array(t) for t in own.graph.initializer}
        for tensor in rebuilt.graph.initializer:
            assert np.array_equal(numpy_helper.to_array(tensor), own_tensors[tensor.name]), (width, tensor.name)
        assert entry["sharing_proof"]["shared_tensors_checked"] == 8
        assert entry["mflops"] > 0 and entry["params"] > 0 and entry["top1"] > 0


def test_golden_outputs_are_pytorch_outputs_of_each_width(tmp_path: Path) -> None:
    model, manifest, bundle = fashion_bundle(tmp_path)
    blob = (bundle / "golden.bin").read_bytes()
    pixels = torch.from_numpy(read_tensor(blob, manifest["golden"]["pixels"]).copy())
    inputs = (pixels.float() * (1 / 255) - 0.286) / 0.353
    for width in model.widths:
        set_width(model, width)
        expected = read_tensor(blob, manifest["golden"]["outputs"][f"{width:g}"])
        # A plain copy (what ONNX sees) gives the same numbers as the slimmable model.
        plain = plain_copy(model, width)
        with torch.no_grad():
            np.testing.assert_allclose(plain(inputs).numpy().reshape(-1), expected, atol=1e-5)
    # Different widths really differ.
    outs = manifest["golden"]["outputs"]
    assert not np.allclose(read_tensor(blob, outs["0.25"]), read_tensor(blob, outs["1"]), atol=1e-3)


def test_sharing_proof_catches_a_weight_that_is_not_a_prefix_slice() -> None:
    model = build_model("fashion_cnn").eval()
    shared = export_width(plain_copy(model, 1.0), (1, 28, 28), "logits")
    narrow_model = plain_copy(model, 0.5)
    narrow_model.features[3][0].weight.data[0, 0, 0, 0] += 1.0  # type: ignore[index]
    narrow = export_width(narrow_model, (1, 28, 28), "logits")
    recipe = derive_recipe(shared, narrow, set(bn_tensor_names(model)))
    with pytest.raises(RecipeError, match="features.3.0.weight.*not the prefix slice"):
        prove_sharing(shared, narrow, recipe)


def test_depthwise_group_changes_are_recorded_and_size_stays_within_bound(tmp_path: Path) -> None:
    """S-MobileNetV2 at ImageNet size: depthwise convs change `group` with width; the bundle stays
    within 1.05x of the full-width graph (per-width copies would be about 1.9x)."""
    model = build_model("s_mobilenet_v2").eval()
    spec = BundleSpec(
        name="m", task="classification", labels=[str(i) for i in range(1000)],
        preprocess={"resize": "cover", "colorspace": "rgb", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
        output={"name": "logits", "kind": "logits"}, accuracy={0.35: 0.6, 0.5: 0.64, 0.75: 0.69, 1.0: 0.71},
    )
    manifest = write_bundle(model, spec, tmp_path, log=lambda _: None)
    narrow = manifest["widths"][0]["rebuild"]
    assert len(narrow["attributes"]) == 17 and {a["name"] for a in narrow["attributes"]} == {"group"}
    total, graph = bundle_size(tmp_path)
    assert total / graph <= 1.05


def reference_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Name tensors like the reference implementation's DataParallel checkpoints, with its single
    shared BN after the 1280-channel conv."""
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("features.18.1.bn."):
            if key.startswith("features.18.1.bn.0."):
                state["module.features.18.1." + key.split(".", 5)[-1]] = value
            continue
        state["module." + key] = value
    return state


def test_reference_checkpoints_load_by_name(tmp_path: Path) -> None:
    source = build_model("s_mobilenet_v2", input_size=32, num_classes=10)
    randomise_bn(source)
    path = tmp_path / "ref.pt"
    torch.save({"model": reference_state_dict(source)}, path)
    model, _ = load_model(path, "s_mobilenet_v2", [0.35, 0.5, 0.75, 1.0], input_size=32, num_classes=10)
    loaded = model.state_dict()
    assert torch.equal(loaded["features.0.1.bn.2.running_var"], source.state_dict()["features.0.1.bn.2.running_var"])
    for i in range(4):  # the shared tail BN is copied into every width
        assert torch.equal(loaded[f"features.18.1.bn.{i}.weight"], source.state_dict()["features.18.1.bn.0.weight"])


def test_state_dict_with_wrong_shapes_is_a_clear_error(tmp_path: Path) -> None:
    state = build_model("s_mobilenet_v2", input_size=32, num_classes=10).state_dict()
    path = tmp_path / "bad.pt"
    torch.save({"model": state}, path)
    with pytest.raises(CheckpointError, match=r"wrong shapes .*classifier\.0\.weight"):
        load_model(path, "s_mobilenet_v2", None, input_size=32, num_classes=20)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nope.pt", "s_mobilenet_v2")
    torch.save({"model": {"x": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match="missing"):
        load_model(path, "fashion_cnn")


@needs_data
def test_export_cli_writes_a_fashion_bundle(tmp_path: Path) -> None:
    model = build_model("fashion_cnn")
    save_final(model, TrainConfig(), {0.25: 0.5, 0.5: 0.6, 0.75: 0.7, 1.0: 0.8}, tmp_path / "run")
    assert export_main(["--checkpoint", str(tmp_path / "run" / "final.pt"), "--out", str(tmp_path / "bundle")]) == 0
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["labels"][9] == "Ankle boot" and manifest["preprocess"]["resize"] == "contain"
    assert [w["top1"] for w in manifest["widths"]] == [0.5, 0.6, 0.7, 0.8]
    assert manifest["golden"]["pixels"]["shape"] == [5, 1, 28, 28]


def test_a_detector_with_a_box_branch_rebuilds_every_width_exactly(tmp_path: Path) -> None:
    # The box branch adds a second 1x1 predictor and a Concat: the recipe must still be prefix slices.
    model = build_model("slimmable_detector", input_size=32, stage_channels=[8, 8, 16, 16], box_channels=8).eval()
    randomise_bn(model)
    assert_detector_widths_rebuild_exactly(model, tmp_path)
    assert any(name.startswith("predict_box") for name in model.state_dict())


def test_a_bundle_loads_back_into_the_model_it_was_exported_from(tmp_path: Path) -> None:
    model, _, bundle = fashion_bundle(tmp_path)
    loaded, meta = load_model(bundle)
    assert meta["arch"] == "fashion_cnn" and meta["widths"] == [0.25, 0.5, 0.75, 1.0] and meta["golden_max_error"] <= 1e-6
    source = model.state_dict()
    for key, value in loaded.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(value, source[key]), key


def test_a_bundle_whose_files_disagree_with_its_golden_outputs_is_refused(tmp_path: Path) -> None:
    _, manifest, bundle = fashion_bundle(tmp_path)
    narrow_bn = np.fromfile(bundle / "switchable_bn.bin", "<f4")
    (narrow_bn * 1.5).astype("<f4").tofile(bundle / "switchable_bn.bin")  # every narrower width's BN off
    with pytest.raises(BundleLoadError, match="golden outputs"):
        load_model(bundle)
    manifest["architecture"] = "Unknown"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleLoadError, match="architecture 'Unknown'"):
        load_model(bundle)


def test_the_shipped_detector_bundle_loads_with_its_recipe() -> None:
    model, meta = load_model(Path(__file__).resolve().parents[2] / "models" / "fashion-detector")
    assert meta["arch"] == "slimmable_detector" and meta["config"]["class_score"] == "blend"  # type: ignore[index]
    assert meta["golden_max_error"] <= 1e-4


def test_the_shipped_detector_re_exports_from_its_bundle(tmp_path: Path) -> None:
    # The bundle's measured mAP (the detector's own and the pair's), recipe and weights come back
    # through load_model, so exporting it again writes the same graph, BN file, golden images and
    # manifest. The golden outputs are recomputed by torch, whose float kernels differ in the last
    # bit between CPU models, so they match within the bundle's own tolerance.
    repo = Path(__file__).resolve().parents[2]
    shipped = repo / "models" / "fashion-detector"
    assert export_main(["--checkpoint", str(shipped), "--out", str(tmp_path), "--name", "fashion-detector", "--namer", "fashion-scene-namer",
                        "--cascade", str(repo / "docs" / "detection" / "cascade.json")]) == 0
    for name in ("shared.onnx", "switchable_bn.bin"):
        assert (tmp_path / name).read_bytes() == (shipped / name).read_bytes(), name
    manifest = json.loads((shipped / "manifest.json").read_text())
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    golden = manifest["golden"]
    ours, theirs = (tmp_path / "golden.bin").read_bytes(), (shipped / "golden.bin").read_bytes()
    assert np.array_equal(read_tensor(ours, golden["pixels"]), read_tensor(theirs, golden["pixels"]))
    for width, entry in golden["outputs"].items():
        np.testing.assert_allclose(read_tensor(ours, entry), read_tensor(theirs, entry), rtol=0, atol=golden["tolerance"], err_msg=width)


def test_a_run_can_start_from_a_bundle_as_from_a_checkpoint(tmp_path: Path) -> None:
    # train_detector --init-from and the namer's --init-from read this dict
    model, _, bundle = fashion_bundle(tmp_path)
    start = load_checkpoint(bundle)
    assert start["arch"] == "fashion_cnn" and start["earlier_stages"] == []
    fresh = build_model("fashion_cnn")
    fresh.load_state_dict(start["model"])  # type: ignore[arg-type]
    assert torch.equal(fresh.state_dict()["features.0.1.bn.0.running_var"], model.state_dict()["features.0.1.bn.0.running_var"])

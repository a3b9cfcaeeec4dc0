"""Checkpoints: config.json + model.safetensors round trip, fp16 storage, clear errors."""

from __future__ import annotations

import json

import pytest
import torch

from docexit.models.backbone import backbone_config
from docexit.models.batch import ModelBatch
from docexit.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from docexit.models.config import EarlyExitConfig
from docexit.models.exits import exit_plan
from docexit.models.model import EarlyExitModel


def tiny_model(exits=None, **kwargs) -> EarlyExitModel:
    torch.manual_seed(0)
    backbone = backbone_config(
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=64,
    )
    exits = exits if exits is not None else exit_plan(3, "quarter", "independent", "gate")
    model = EarlyExitModel(EarlyExitConfig(backbone=backbone.to_dict(), exits=exits, **kwargs))
    with torch.no_grad():
        model.backbone.pos_embed.normal_(std=0.5)
    return model.eval()


def batch() -> ModelBatch:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 100, (3, 9), generator=g)
    ids[1, 5:] = 0
    boxes = torch.randint(0, 500, (3, 9, 4), generator=g)
    return ModelBatch(ids, boxes, (ids != 0).long(), torch.randn(3, 3, 224, 224, generator=g))


def test_round_trip_keeps_logits_and_config(tmp_path):
    model = tiny_model(
        temperatures=[1.5, 0.8, 1.2, 1.1, 1.0],
        confidence_maps=[[1.5, -0.2], [1.0, 0.0], [2.0, 0.1], [0.5, 0.3], [1.2, -0.4]],
        policy={"kind": "max_prob", "threshold": 0.9},
        label_names=[f"class_{i}" for i in range(5)],
    )
    save_checkpoint(model, tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",  # the tokenizer travels with the weights
        "tokenizer_config.json",
    ]
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert not loaded.training
    assert loaded.config.exits == model.config.exits
    assert loaded.config.temperatures == [1.5, 0.8, 1.2, 1.1, 1.0]
    assert loaded.confidence_maps == [(1.5, -0.2), (1.0, 0.0), (2.0, 0.1), (0.5, 0.3), (1.2, -0.4)]
    assert loaded.config.policy == {"kind": "max_prob", "threshold": 0.9}
    assert loaded.label_names == model.label_names
    backbone = {k: v for k, v in model.config.backbone.to_dict().items() if k != "dtype"}
    assert backbone.items() <= loaded.config.backbone.to_dict().items()
    with torch.no_grad():
        a, b = model(batch()), loaded(batch())
    assert torch.equal(a.logits, b.logits)
    assert torch.equal(a.gate_logits, b.gate_logits)
    assert a.logits.shape == (5, 3, 5)


def test_fp16_storage_loads_as_float32(tmp_path):
    model = tiny_model()
    save_checkpoint(model, tmp_path / "f32")
    save_checkpoint(model, tmp_path / "f16", dtype=torch.float16)
    assert next(model.parameters()).dtype == torch.float32  # the model itself is unchanged
    size32 = (tmp_path / "f32" / "model.safetensors").stat().st_size
    size16 = (tmp_path / "f16" / "model.safetensors").stat().st_size
    assert size16 < 0.6 * size32
    loaded = load_checkpoint(tmp_path / "f16", device="cpu")
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(batch()).logits, model(batch()).logits, rtol=1e-2, atol=1e-2
        )


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope")
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_checkpoint(folder)
    save_checkpoint(tiny_model(), tmp_path / "ckpt")
    (tmp_path / "ckpt" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_checkpoint(tmp_path / "ckpt")


def test_pickled_weights_are_refused(tmp_path):
    save_checkpoint(tiny_model(), tmp_path)
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(CheckpointError, match="never unpickled"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_safetensors(tmp_path, damage):
    save_checkpoint(tiny_model(), tmp_path)
    weights = tmp_path / "model.safetensors"
    data = weights.read_bytes()
    broken = {"garbage": b"\x00\x01garbage" * 10, "truncated": data[: len(data) // 2], "empty": b""}
    weights.write_bytes(broken[damage])
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_checkpoint(tmp_path)


def test_bad_config(tmp_path):
    save_checkpoint(tiny_model(), tmp_path)
    config_file = tmp_path / "config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text("{not json")
    with pytest.raises(CheckpointError, match="not a JSON object"):
        load_checkpoint(tmp_path)
    config_file.write_text(json.dumps({**config, "model_type": "layoutlmv3"}))
    with pytest.raises(CheckpointError, match="from_layoutlmv3"):
        load_checkpoint(tmp_path)


def test_weights_that_do_not_match_the_config(tmp_path):
    save_checkpoint(tiny_model(), tmp_path)
    config_file = tmp_path / "config.json"
    config = json.loads(config_file.read_text())
    config["exits"] = exit_plan(3, "all", "none", "ramp")  # different heads than saved
    config["temperatures"] = config["confidence_maps"] = None
    config_file.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(tmp_path)


def test_confidence_maps_default_to_identity_and_must_be_monotone(tmp_path):
    save_checkpoint(tiny_model(), tmp_path)
    config_file = tmp_path / "config.json"
    config = json.loads(config_file.read_text())
    del config["confidence_maps"]  # a checkpoint written before confidence maps existed
    config_file.write_text(json.dumps(config))
    assert load_checkpoint(tmp_path).confidence_maps == [(1.0, 0.0)] * len(config["exits"])
    for bad in ([[1.0, 0.0]], [[-1.0, 0.0]] * len(config["exits"])):
        config_file.write_text(json.dumps({**config, "confidence_maps": bad}))
        with pytest.raises(CheckpointError, match="confidence.map"):
            load_checkpoint(tmp_path)


def test_save_rejects_odd_dtype(tmp_path):
    with pytest.raises(ValueError, match="dtype"):
        save_checkpoint(tiny_model(), tmp_path, dtype=torch.int8)

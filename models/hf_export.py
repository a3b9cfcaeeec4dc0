"""A docexit checkpoint -> a transformers LayoutLMv3 classification folder (`docexit export`).

The backbone and the final exit (LayoutLMv3's classification head on the text CLS state) become
a `LayoutLMv3ForSequenceClassification` with the model's labels as `id2label`, saved with
`save_pretrained` (config.json + model.safetensors), next to the checkpoint's tokenizer and its
image processor config (LayoutLMv3's default at the model's image size when it has none).
`LayoutLMv3ForSequenceClassification.from_pretrained` opens it with no missing or unexpected
keys and gives the same full-depth logits. Exit heads, calibration and the visual exit stay
behind: transformers has no place for them.
"""

from __future__ import annotations

from pathlib import Path

from transformers import LayoutLMv3Config, LayoutLMv3ForSequenceClassification

from docexit.models.checkpoint import load_checkpoint
from docexit.models.hf_import import default_image_processor
from docexit.models.model import EarlyExitModel
from docexit.models.tokenizer import save_tokenizer
from docexit.transforms.featurize import load_image_processor


def to_transformers(model: EarlyExitModel) -> LayoutLMv3ForSequenceClassification:
    """`model`'s backbone and final head as transformers' own classifier (eval mode)."""
    labels = model.label_names
    settings = model.config.backbone.to_dict()
    settings.update(
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        architectures=["LayoutLMv3ForSequenceClassification"],
    )
    settings.pop("num_labels", None)
    target = LayoutLMv3ForSequenceClassification(LayoutLMv3Config(**settings))
    state = {f"layoutlmv3.{k}": v for k, v in model.backbone.state_dict().items()}
    state.update({f"classifier.{k}": v for k, v in model.exits[-1].ramp.state_dict().items()})
    target.load_state_dict(state, strict=True)
    return target.eval()


def export_checkpoint(model_dir: str | Path, out: str | Path) -> Path:
    """Writes the checkpoint in `model_dir` as a transformers LayoutLMv3 folder into `out`."""
    model_dir, out = Path(model_dir), Path(out)
    model = load_checkpoint(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    to_transformers(model).save_pretrained(str(out))
    save_tokenizer(model_dir, out)
    if load_image_processor(model_dir) is None:
        default_image_processor(model.config.image_size).save_pretrained(str(out))
    return out

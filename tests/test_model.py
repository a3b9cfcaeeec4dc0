"""EarlyExitModel: exits and placements, the three initialisations, step API == forward,
sub-batch equivalence, basic early-exit classify. Tiny configs (hidden 32, 2-4 layers)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from transformers import (
    BertModel,
    LayoutLMv3Config,
    LayoutLMv3ForSequenceClassification,
    LayoutLMv3Model,
)

from docexit.models.backbone import backbone_config, minilm_path, minilm_weight_map
from docexit.models.batch import ModelBatch
from docexit.models.config import EarlyExitConfig
from docexit.models.engine import Prediction
from docexit.models.exits import MODALITIES, PAPER_PRESETS, Exit, exit_plan, scale_layers
from docexit.models.model import EarlyExitModel
from docexit.models.reference_loop import classify
from docexit.transforms.records import LABELS

VOCAB = 120


def tiny_config(
    layers: int = 4, bias: bool = True, vocab: int = VOCAB, **kwargs
) -> EarlyExitConfig:
    backbone = backbone_config(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=64,
        has_relative_attention_bias=bias,
        has_spatial_attention_bias=bias,
    )
    return EarlyExitConfig(backbone=backbone.to_dict(), **kwargs)


def tiny_model(layers: int = 4, seed: int = 0, vocab: int = VOCAB, **kwargs) -> EarlyExitModel:
    torch.manual_seed(seed)
    model = EarlyExitModel(tiny_config(layers, vocab=vocab, **kwargs)).eval()
    with torch.no_grad():  # LayoutLMv3 starts the visual CLS / position embeddings at zero
        model.backbone.cls_token.normal_(std=0.5)
        model.backbone.pos_embed.normal_(std=0.5)
    return model


def make_batch(
    lengths=(12, 7, 3, 10), seq_len: int = 12, vocab: int = VOCAB, seed: int = 1
) -> ModelBatch:
    """Right-padded pages: [CLS]=101 ... [SEP]=102 style ids (within `vocab`), [PAD]=0."""
    g = torch.Generator().manual_seed(seed)
    b = len(lengths)
    input_ids = torch.zeros(b, seq_len, dtype=torch.long)
    bbox = torch.zeros(b, seq_len, 4, dtype=torch.long)
    mask = torch.zeros(b, seq_len, dtype=torch.long)
    for i, n in enumerate(lengths):
        input_ids[i, :n] = torch.randint(3, vocab, (n,), generator=g)
        xy = torch.randint(0, 900, (n, 2), generator=g)
        wh = torch.randint(1, 100, (n, 2), generator=g)
        bbox[i, :n] = torch.cat([xy, xy + wh], dim=1)
        mask[i, :n] = 1
    pixels = torch.randn(b, 3, 224, 224, generator=g)
    return ModelBatch(input_ids=input_ids, bbox=bbox, attention_mask=mask, pixel_values=pixels)


def all_exit_logits_stepwise(model: EarlyExitModel, batch: ModelBatch) -> list[torch.Tensor]:
    state = model.embed(batch)
    out = [model.exit_logits(i, state).logits for i in model.exits_at(0)]
    for k in range(1, model.num_layers + 1):
        state = model.run_layer(k, state)
        out += [model.exit_logits(i, state).logits for i in model.exits_at(k)]
    return out


# ---- placements and exit lists ---------------------------------------------------------------


def test_presets_scale_to_depth():
    for name, layers in PAPER_PRESETS.items():
        assert scale_layers(layers, 12) == list(layers), name
    six = {name: scale_layers(layers, 6) for name, layers in PAPER_PRESETS.items()}
    assert six == {
        "none": [],
        "single": [4],
        "quarter": [1, 2, 4, 5],
        "alternate": [1, 3, 5],
        "all": [1, 2, 3, 4, 5],
    }
    assert scale_layers((1, 4, 8, 10), 4) == [1, 3]


def test_exit_plan_shapes():
    plan = exit_plan(6, "alternate", "independent", "gate")
    assert plan == [
        {"layer": 0, "source": "text", "head": "gate"},
        {"layer": 0, "source": "vision", "head": "gate"},
        {"layer": 1, "source": "cls", "head": "gate"},
        {"layer": 3, "source": "cls", "head": "gate"},
        {"layer": 5, "source": "cls", "head": "gate"},
        {"layer": 6, "source": "cls", "head": "ramp"},
    ]
    assert exit_plan(6, [2, 5], "concat")[0] == {"layer": 0, "source": "concat", "head": "ramp"}
    with pytest.raises(ValueError, match="within 1..5"):
        exit_plan(6, [6])
    with pytest.raises(ValueError, match="placement"):
        exit_plan(6, "half")
    with pytest.raises(ValueError, match="modality"):
        exit_plan(6, "single", "both")


@pytest.mark.parametrize("head", ["ramp", "gate"])
@pytest.mark.parametrize("modality", sorted(MODALITIES))
def test_every_placement_and_modality_runs(head, modality):
    batch = make_batch(lengths=(5, 3), seq_len=5)
    for placement in PAPER_PRESETS:
        exits = exit_plan(4, placement, modality, head)
        model = tiny_model(4, exits=exits)
        out = model(batch)
        e = len(exits)
        assert out.logits.shape == (e, 2, len(LABELS))
        assert model.exit_layers == [x["layer"] for x in exits]
        assert model.exit_layers[-1] == 4 and model.exits[-1].gate is None
        if head == "gate" and e > 1:
            assert out.gate_logits.shape == (e, 2, 2)
            assert torch.equal(out.gate_logits[-1], torch.zeros(2, 2))  # final: no gate
        else:
            assert out.gate_logits is None
        assert torch.isfinite(out.logits).all()


def test_config_validation_errors():
    with pytest.raises(ValueError, match="source"):
        tiny_config(exits=[{"layer": 1, "source": "pooled", "head": "ramp"}])
    with pytest.raises(ValueError, match="reads layer 0"):
        tiny_config(exits=[{"layer": 2, "source": "text", "head": "ramp"}])
    with pytest.raises(ValueError, match="needs an encoder layer"):
        tiny_config(exits=[{"layer": 0, "source": "cls", "head": "ramp"}])
    with pytest.raises(ValueError, match="ordered by depth"):
        tiny_config(exits=[{"layer": 2, "source": "cls"}, {"layer": 1, "source": "cls"}])
    with pytest.raises(ValueError, match="duplicate"):
        tiny_config(exits=[{"layer": 1, "source": "cls"}, {"layer": 1, "source": "cls"}])
    with pytest.raises(ValueError, match="within 0..4"):
        tiny_config(exits=[{"layer": 5, "source": "cls"}])
    with pytest.raises(ValueError, match="temperatures"):
        tiny_config(exits=exit_plan(4, "quarter"), temperatures=[1.0])
    with pytest.raises(ValueError, match="hidden_size"):
        EarlyExitModel(EarlyExitConfig(backbone={"hidden_size": 32, "num_attention_heads": 4}))
    # the final classifier is appended; temperatures default to 1 per exit
    config = tiny_config(exits=[{"layer": 2, "source": "cls", "head": "gate"}])
    assert config.exits[-1] == {"layer": 4, "source": "cls", "head": "ramp"}
    assert config.temperatures == [1.0, 1.0]


def test_bad_inputs_give_clear_errors():
    model = tiny_model(2)
    batch = make_batch()
    bad_box = ModelBatch(
        batch.input_ids, batch.bbox * 0 + 1001, batch.attention_mask, batch.pixel_values
    )
    with pytest.raises(ValueError, match="bbox values must be within 0-1000"):
        model(bad_box)
    small = ModelBatch(
        batch.input_ids, batch.bbox, batch.attention_mask, batch.pixel_values[..., :112, :112]
    )
    with pytest.raises(ValueError, match="pixel_values must be"):
        model(small)
    bad_ids = ModelBatch(
        batch.input_ids + VOCAB, batch.bbox, batch.attention_mask, batch.pixel_values
    )
    with pytest.raises(ValueError, match="input_ids"):
        model(bad_ids)


# ---- step API ------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
def test_step_api_equals_forward_and_layoutlmv3(bias):
    exits = exit_plan(4, "all", "independent", "gate")
    model = tiny_model(4, bias=bias, exits=exits)
    batch = make_batch()
    with torch.no_grad():
        out = model(batch)
        steps = all_exit_logits_stepwise(model, batch)
        assert torch.equal(torch.stack(steps), out.logits)
        state = model.embed(batch)
        assert (state.position_bias is not None) == bias
        for k in range(1, 5):
            state = model.run_layer(k, state)
        reference = model.backbone(
            input_ids=batch.input_ids,
            bbox=batch.bbox,
            attention_mask=batch.attention_mask,
            pixel_values=batch.pixel_values,
        ).last_hidden_state
    assert torch.equal(state.hidden, reference)
    assert state.hidden.shape == (4, 12 + 1 + 196, 32)


def test_step_api_checks_order():
    model = tiny_model(2)
    state = model.embed(make_batch())
    with pytest.raises(AssertionError, match="cannot run layer 2"):
        model.run_layer(2, state)
    with pytest.raises(AssertionError, match="reads layer 2"):
        model.exit_logits(len(model.exits) - 1, state)


@pytest.mark.parametrize("bias", [True, False])
def test_sub_batch_gives_same_per_page_results(bias):
    exits = exit_plan(4, "quarter", "concat", "gate")
    model = tiny_model(4, bias=bias, exits=exits)
    batch = make_batch()
    rows = torch.tensor([3, 0, 2])
    with torch.no_grad():
        full = model(batch)
        # compacting the state after layer 1, then running on
        state = model.run_layer(1, model.embed(batch)).select(rows)
        for k in range(2, 5):
            state = model.run_layer(k, state)
        final = model.exit_logits(len(exits) - 1, state).logits
        torch.testing.assert_close(final, full.logits[-1, rows], rtol=1e-5, atol=1e-5)
        # a bool mask selects the same pages, in batch order
        state0 = model.embed(batch).select(torch.tensor([True, False, True, False]))
        assert state0.num_pages == 2
        gate0 = model.exit_logits(0, state0).gate
        torch.testing.assert_close(gate0, full.gate_logits[0, [0, 2]], rtol=1e-5, atol=1e-5)
        # the selected batch itself gives the same results
        sub = model(batch.select(rows))
        torch.testing.assert_close(sub.logits, full.logits[:, rows], rtol=1e-5, atol=1e-5)


def test_vision_exit_ignores_text():
    """The vision modality exit reads patches only: usable before OCR."""
    model = tiny_model(2, exits=exit_plan(2, "none", "independent"))
    a, b = make_batch(seed=1), make_batch(seed=2)
    other_text = ModelBatch(b.input_ids, b.bbox, b.attention_mask, a.pixel_values)
    with torch.no_grad():
        va = model.exit_logits(1, model.embed(a)).logits
        vb = model.exit_logits(1, model.embed(other_text)).logits
        ta = model.exit_logits(0, model.embed(a)).logits
        tb = model.exit_logits(0, model.embed(other_text)).logits
    torch.testing.assert_close(va, vb, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(ta, tb)


def test_vision_exit_is_a_bag_of_nonlinear_patch_features():
    """Patch order does not matter, but more than the mean patch does: two patch sets with the
    same mean give different logits (a mean of linear embeddings could not tell them apart)."""
    exit_ = Exit({"layer": 0, "source": "vision", "head": "gate"}, 8, 4, dropout=0.0).eval()
    text_len, mask = 3, torch.ones(1, 3 + 1 + 4)
    patches = torch.randn(1, 4, 8)  # (B, P, H)
    hidden = torch.cat([torch.randn(1, text_len + 1, 8), patches], dim=1)  # (B, S, H)
    shuffled = torch.cat([hidden[:, : text_len + 1], patches[:, [2, 0, 3, 1]]], dim=1)
    same_mean = torch.cat(
        [hidden[:, : text_len + 1], patches.mean(dim=1, keepdim=True).expand(1, 4, 8)], dim=1
    )
    with torch.no_grad():
        logits, gate = exit_(hidden, mask, text_len)
        logits_shuffled, gate_shuffled = exit_(shuffled, mask, text_len)
        logits_mean, _ = exit_(same_mean, mask, text_len)
    assert logits.shape == (1, 4) and gate.shape == (1, 2)
    torch.testing.assert_close(logits, logits_shuffled)
    torch.testing.assert_close(gate, gate_shuffled)
    assert not torch.allclose(logits, logits_mean, atol=1e-4)


def test_parameter_counts_to_exit():
    model = tiny_model(4, exits=exit_plan(4, "quarter", "independent", "gate"))
    counts = model.parameter_counts_to_exit()
    assert len(counts) == len(model.exits)
    cls_counts = [c for c, e in zip(counts, model.exits, strict=True) if e.source == "cls"]
    assert cls_counts == sorted(cls_counts)
    total = sum(p.numel() for p in model.parameters())
    other_heads = sum(p.numel() for e in model.exits[:-1] for p in e.parameters())
    assert counts[-1] == total - other_heads  # the final exit uses the whole backbone
    text, vision = counts[0], counts[1]
    heads = [sum(p.numel() for p in e.parameters()) for e in model.exits]
    # layer-0 exits both count the whole embedding stage (it runs before any exit)
    assert text - heads[0] == vision - heads[1]
    assert text < cls_counts[0]


def test_is_exit_and_pretrained_parameter():
    model = tiny_model(2)
    names = [n for n, _ in model.named_parameters()]
    assert any(model.is_exit_parameter(n) for n in names)
    assert not any(model.is_exit_parameter(n) for n in names if n.startswith("backbone."))
    assert not any(model.is_pretrained_parameter(n) for n in names)  # random init


# ---- initialisations ------------------------------------------------------------------------


def test_random_init_from_config_is_seeded():
    a, b = tiny_model(2, seed=5), tiny_model(2, seed=5)
    batch = make_batch()
    assert torch.equal(a(batch).logits, b(batch).logits)


def test_minilm_warm_start_copies_weights():
    model = EarlyExitModel.from_minilm(exits=exit_plan(6, "quarter", "independent")).eval()
    source = load_file(str(minilm_path() / "model.safetensors"))
    params = dict(model.backbone.named_parameters())
    mapping = minilm_weight_map(6)
    assert len(mapping) == 4 + 6 * 16
    for target, src in mapping.items():
        assert torch.equal(params[target], source[src]), target
    positions = params["embeddings.position_embeddings.weight"]
    assert positions.shape == (513, 384)
    assert torch.equal(positions[1:], source["embeddings.position_embeddings.weight"])
    assert torch.equal(positions[0], torch.zeros(384))
    cfg = model.config.backbone
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (384, 6, 12)
    assert (cfg.intermediate_size, cfg.vocab_size, cfg.pad_token_id) == (1536, 30522, 0)
    assert not cfg.has_relative_attention_bias and not cfg.has_spatial_attention_bias
    assert model.exit_layers == [0, 0, 1, 2, 4, 5, 6]
    assert model.is_pretrained_parameter("backbone.encoder.layer.3.output.dense.weight")
    assert not model.is_pretrained_parameter("backbone.patch_embed.proj.weight")
    assert not model.is_pretrained_parameter("backbone.embeddings.x_position_embeddings.weight")

    # Text tokens enter layer 1 exactly as MiniLM's embeddings (positions line up, padding too).
    batch = make_batch(lengths=(9, 4), seq_len=9, vocab=30522)
    bert = BertModel.from_pretrained(str(minilm_path()), add_pooling_layer=False).eval()
    with torch.no_grad():
        ours = model.embed(batch).hidden[:, :9]  # (B, T, H)
        theirs = bert.embeddings(input_ids=batch.input_ids)  # (B, T, H)
    real = batch.attention_mask.bool()
    torch.testing.assert_close(ours[real], theirs[real], rtol=1e-4, atol=1e-4)
    out = model(batch)
    assert out.logits.shape == (7, 2, 16)


@pytest.mark.parametrize("head_class", [LayoutLMv3Model, LayoutLMv3ForSequenceClassification])
def test_layoutlmv3_checkpoint_from_folder(tmp_path, head_class):
    torch.manual_seed(3)
    source_config = LayoutLMv3Config(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        coordinate_size=4,
        shape_size=8,
        num_labels=16,
    )
    source = head_class(source_config).eval()
    source.save_pretrained(str(tmp_path))
    base = source if head_class is LayoutLMv3Model else source.layoutlmv3
    model = EarlyExitModel.from_layoutlmv3(tmp_path, exits=exit_plan(2, "single")).eval()
    ours = model.backbone.state_dict()
    for name, tensor in base.state_dict().items():
        assert torch.equal(ours[name], tensor), name
    assert model.is_pretrained_parameter("backbone.encoder.layer.0.output.dense.weight")
    assert model.config.backbone.pad_token_id == 1  # RoBERTa vocabulary kept as saved
    batch = make_batch(seq_len=12)  # padded with 0; the model pads with its own id, 1
    with torch.no_grad():
        reference = base(
            input_ids=batch.input_ids.masked_fill(batch.attention_mask == 0, 1),
            bbox=batch.bbox,
            attention_mask=batch.attention_mask,
            pixel_values=batch.pixel_values,
        ).last_hidden_state
        state = model.embed(batch)
        for k in (1, 2):
            state = model.run_layer(k, state)
    assert torch.equal(state.hidden, reference)


def test_layoutlmv3_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        EarlyExitModel.from_layoutlmv3(tmp_path)


def test_docexit_backbone_from_folder_keeps_backbone_and_renews_exits(tmp_path):
    from docexit.models.checkpoint import save_checkpoint
    from docexit.models.factory import build_model, init_depth

    source = tiny_model(layers=4, seed=5, vocab=30522)  # MiniLM's: saved with its tokenizer
    save_checkpoint(source, tmp_path / "trained")
    assert init_depth(str(tmp_path / "trained")) == 4
    model = build_model(
        init=str(tmp_path / "trained"),
        placement="all",
        modality="concat",
        head="gate",
        max_length=64,
        image_size=source.config.backbone.input_size,
    ).eval()
    assert model.config.init_source.startswith("docexit:")
    assert model.exit_layers == [0, 1, 2, 3, 4]  # the new design's exits, not the source's
    assert model.has_gate[:-1] == [True] * 4
    ours = model.backbone.state_dict()
    for name, tensor in source.backbone.state_dict().items():
        assert torch.equal(ours[name], tensor), name
    assert model.is_pretrained_parameter("backbone.embeddings.patch_embed.proj.weight")
    batch = make_batch(seq_len=12)
    with torch.no_grad():
        assert torch.equal(
            model.run_layer(1, model.embed(batch)).hidden,
            source.run_layer(1, source.embed(batch)).hidden,
        )
    with pytest.raises(ValueError, match="px page images"):
        build_model(init=str(tmp_path / "trained"), max_length=64, image_size=96)


# ---- basic early-exit classify ------------------------------------------------------------


class MaxProb:
    """Trivial policy: exit where the calibrated max softmax reaches a threshold."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.calls: list[tuple[int, int]] = []

    def init_state(self, batch_size: int):
        return torch.zeros(batch_size)  # per-page: best confidence so far (exercises compaction)

    def decide(self, exit_index, logits, gate, state):
        self.calls.append((exit_index, logits.shape[0]))
        assert state.shape == (logits.shape[0],)
        confidence = logits.softmax(-1).max(-1).values  # (B,)
        return confidence >= self.threshold, torch.maximum(state, confidence)


def expected_exits(model: EarlyExitModel, batch: ModelBatch, threshold: float) -> list[int]:
    with torch.no_grad():
        logits = model(batch).logits  # (E, B, C)
    t = torch.tensor(model.temperatures).view(-1, 1, 1)
    confident = (logits / t).softmax(-1).max(-1).values >= threshold  # (E, B)
    confident[-1] = True
    return confident.float().argmax(dim=0).tolist()  # first confident exit per page


@pytest.mark.parametrize("bias", [True, False])
def test_classify_exits_per_page(bias):
    exits = exit_plan(4, "all", "independent")
    temperatures = [0.5, 0.7, 0.3, 0.4, 1.0, 2.0]
    model = tiny_model(4, bias=bias, exits=exits, temperatures=temperatures)
    batch = make_batch(lengths=(12, 7, 3, 10, 5, 1), seq_len=12, seed=4)
    with torch.no_grad():
        full = model(batch).logits  # (E, B, C)
    probs = (full / torch.tensor(temperatures).view(-1, 1, 1)).softmax(-1).max(-1).values
    threshold = float(probs[0].median())  # about half the pages exit at the first exit
    policy = MaxProb(threshold)
    predictions = classify(model, batch, policy)
    want = expected_exits(model, batch, threshold)
    assert [p.exit_index for p in predictions] == want
    assert len(set(want)) > 1, "threshold should split the pages"
    for page, p in enumerate(predictions):
        calibrated = (full[p.exit_index, page] / temperatures[p.exit_index]).softmax(-1)
        assert p.label_id == int(calibrated.argmax())
        assert p.confidence == pytest.approx(float(calibrated.max()), abs=1e-5)
        assert p.exit_layer == model.exit_layers[p.exit_index]
    # exited pages left the batch: later exits saw fewer pages
    sizes = [n for _, n in policy.calls]
    assert sizes[0] == 6 and sizes == sorted(sizes, reverse=True) and sizes[-1] < 6


def test_classify_extremes_and_callable_policy():
    model = tiny_model(2, exits=exit_plan(2, "all", "concat"))
    batch = make_batch()
    with torch.no_grad():
        final = model(batch).logits[-1]
    never = classify(
        model,
        batch,
        lambda i, logits, gate, state: (torch.zeros(len(logits), dtype=torch.bool), state),
    )
    assert [p.exit_index for p in never] == [2] * 4 and [p.exit_layer for p in never] == [2] * 4
    assert [p.label_id for p in never] == final.argmax(-1).tolist()
    always = classify(model, batch, MaxProb(0.0))
    assert [(p.exit_index, p.exit_layer) for p in always] == [(0, 0)] * 4
    assert all(isinstance(p, Prediction) for p in always)


def test_classify_needs_eval_mode():
    model = tiny_model(2).train()
    with pytest.raises(ValueError, match="eval"):
        classify(model, make_batch(), MaxProb(0.5))


def test_eager_attention_matches_sdpa(tmp_path):
    """The step API passes masks/biases in whatever layout the attention implementation wants."""
    model = tiny_model(3, exits=exit_plan(3, "all"))
    model.save_pretrained(str(tmp_path))
    eager = EarlyExitModel.from_pretrained(str(tmp_path), attn_implementation="eager").eval()
    assert eager.backbone.config._attn_implementation == "eager"
    batch = make_batch()
    with torch.no_grad():
        expected = model(batch).logits
        torch.testing.assert_close(eager(batch).logits, expected, rtol=1e-5, atol=1e-5)
        state = eager.embed(batch).select(torch.tensor([2, 1]))
        for k in (1, 2, 3):
            state = eager.run_layer(k, state)
        final = eager.exit_logits(len(eager.exits) - 1, state).logits
    torch.testing.assert_close(final, expected[-1, [2, 1]], rtol=1e-5, atol=1e-5)

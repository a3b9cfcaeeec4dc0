"""The stand-in's warm start: a BPE LayoutLMv3 classifier whose encoder is all-MiniLM-L6-v2
(`benchmarks/byo_standin.py --init minilm`), checked against MiniLM's own weights."""

from __future__ import annotations

import argparse

import torch
from hf_fixtures import bpe_tokenizer
from transformers import BertTokenizerFast, LayoutLMv3ForSequenceClassification

from docexit.benchmarks.byo_standin import standin_config, transferred_embeddings
from docexit.models.backbone import load_minilm_weights, minilm_weights
from docexit.models.tokenizer import minilm_tokenizer_dir

MINILM = argparse.Namespace(init="minilm", image_size=64, max_length=64, hidden=0, layers=0)


def test_bpe_rows_are_the_mean_of_their_wordpiece_rows() -> None:
    tokenizer = bpe_tokenizer(64)
    wordpiece = BertTokenizerFast.from_pretrained(str(minilm_tokenizer_dir()))
    table = minilm_weights()["embeddings.word_embeddings.weight"]  # (30522, 384)
    rows = transferred_embeddings(tokenizer)  # (V, 384)
    assert rows.shape == (len(tokenizer), table.shape[1])
    vocab = tokenizer.get_vocab()
    for bpe, bert in (("<s>", "[CLS]"), ("</s>", "[SEP]"), ("<pad>", "[PAD]")):
        assert torch.equal(rows[vocab[bpe]], table[wordpiece.convert_tokens_to_ids(bert)])
    words = [t for t in vocab if t.startswith("Ġ") and len(t) > 4][:20]
    assert words, "the BPE vocabulary holds whole words"
    for token in words:
        pieces = wordpiece(token[1:], add_special_tokens=False)["input_ids"]
        assert torch.allclose(rows[vocab[token]], table[pieces].mean(0))


def test_warm_start_puts_minilm_positions_after_the_bpe_pad_id() -> None:
    tokenizer = bpe_tokenizer(64)
    config = standin_config(tokenizer, MINILM)
    assert (config.pad_token_id, config.bos_token_id, config.eos_token_id) == (1, 0, 2)
    model = LayoutLMv3ForSequenceClassification(config)
    load_minilm_weights(model.layoutlmv3, word_embeddings=transferred_embeddings(tokenizer))
    weights = minilm_weights()
    positions = model.layoutlmv3.embeddings.position_embeddings.weight  # (514, 384)
    bert_positions = weights["embeddings.position_embeddings.weight"]  # (512, 384)
    assert torch.equal(positions[2:], bert_positions)  # first real token: id pad + 1 = 2
    assert not positions[:2].any()
    layer = model.layoutlmv3.encoder.layer[3].intermediate.dense.weight
    assert torch.equal(layer, weights["encoder.layer.3.intermediate.dense.weight"])

"""`models.text_prior`: the bag-of-words classifiers in numpy give scikit-learn's probabilities,
survive a save and load, and pool into an exit's output as the floor's pooling does."""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import pytest
import torch

from docexit.corpus.baseline import class_probabilities, text_classifier
from docexit.models.text_prior import TextPrior, TfidfLinear, pool_log_probs

TEXTS = [
    "Dear Sir, thank you for your letter of May 3rd.",
    "MEMO to all staff: the meeting moves to Friday",
    "Invoice No. 4411 amount due $ 120.00 net 30 days",
    "dear madam your letter of june arrived, thank you",
    "memo: staff meeting friday, all staff attend",
    "invoice total due 30 days amount 77.10",
]
LABELS = np.array([7, 8, 6, 7, 8, 6])  # letter, memo, invoice


@pytest.mark.parametrize("features", ["words", "chars"])
def test_numpy_tfidf_linear_gives_scikit_learns_probabilities(features):
    for labels in (LABELS, np.array([7, 8, 7, 7, 8, 8])):  # three classes, and two (binary)
        classifier = text_classifier(features=features).fit(TEXTS, labels)
        # Unseen terms, short words, an OCR-broken word, runs of spaces and no text at all.
        unseen = ["thank you for the  letter", "amount due: inv0ice", "", "zzz qqq", "a I\tto"]
        expected = class_probabilities(classifier, TEXTS + unseen, 16)
        ours = TfidfLinear.from_classifier(classifier).probabilities(TEXTS + unseen, 16)
        np.testing.assert_allclose(ours, expected, atol=1e-9)
        rounded = (
            TfidfLinear.from_classifier(classifier).rounded().probabilities(TEXTS + unseen, 16)
        )
        assert 0 < np.abs(rounded - expected).max() < 1e-2  # float16's rounding, and no more


def test_a_saved_prior_loads_back_the_same(tmp_path):
    """Saved in float16, a prior fitted with rounded classifiers loads back bit for bit."""
    floor = text_classifier(features="chars").fit(TEXTS, LABELS)
    floor = TfidfLinear.from_classifier(floor).rounded()
    expert = TfidfLinear.from_classifier(text_classifier().fit(TEXTS[:2] * 2, [7, 8, 7, 8]))
    expert = expert.rounded()
    prior = TextPrior(floor, expert, np.array([0.0, 0.5]), np.array([0.25, 0.0]), 16)
    assert TextPrior.load(tmp_path) is None
    prior.save(tmp_path)
    loaded = TextPrior.load(tmp_path)
    assert loaded.floor.vocabulary == floor.vocabulary
    assert (loaded.floor.features, loaded.expert.features) == ("chars", "words")
    np.testing.assert_array_equal(loaded.expert.classes, [7, 8])
    np.testing.assert_array_equal(loaded.page_probabilities(TEXTS), prior.page_probabilities(TEXTS))
    logits = torch.randn(6, 16, generator=torch.Generator().manual_seed(0))
    text = torch.from_numpy(prior.page_probabilities(TEXTS))  # (N, 2, C)
    for exit_index in (0, 1):
        torch.testing.assert_close(
            loaded.combine(exit_index, logits, text), prior.combine(exit_index, logits, text)
        )


def test_a_prior_saved_before_character_ngrams_counts_words():
    """The bundled prior was saved before a prior recorded what it counts: it loads as words,
    and reads a memo's words as a memo."""
    from safetensors import safe_open

    from docexit.pipeline.defaults import bundled_model_dir

    path = bundled_model_dir() / "text_prior.safetensors"
    with safe_open(str(path), framework="numpy") as f:
        assert "floor_features" not in f.metadata()
    prior = TextPrior.load(bundled_model_dir())
    assert (prior.floor.features, prior.expert.features) == ("words", "words")
    memo = "MEMORANDUM TO: all staff FROM: R. J. Marcotullio SUBJECT: meeting DATE: May 3"
    floor, expert = prior.page_probabilities([memo])[0]  # (C,) each
    assert expert.argmax() == 8 and floor.sum() == pytest.approx(1.0, abs=1e-5)  # 8: memo


def test_pooling_keeps_the_uncovered_share_and_weight_zero_changes_nothing():
    log_probs = torch.log_softmax(torch.randn(4, 5, generator=torch.Generator().manual_seed(1)), -1)
    floor = torch.softmax(torch.randn(4, 5, generator=torch.Generator().manual_seed(2)), -1)
    expert = torch.zeros(4, 5)
    expert[:, [1, 3]] = torch.tensor([0.9, 0.1])  # covers classes 1 and 3 only
    covered = torch.tensor([1, 3])
    torch.testing.assert_close(
        pool_log_probs(log_probs, floor, expert, covered, 0.0, 0.0), log_probs
    )
    pooled = pool_log_probs(log_probs, floor, expert, covered, 0.0, 1.0)
    torch.testing.assert_close(pooled[:, [0, 2, 4]], log_probs[:, [0, 2, 4]])
    assert (pooled[:, 1] > pooled[:, 3]).all()  # the expert's ranking, within its classes
    torch.testing.assert_close(pooled.exp().sum(-1), torch.ones(4))
    floor_only = pool_log_probs(log_probs, floor, expert, covered, 1.0, 0.0)
    torch.testing.assert_close(floor_only, torch.log(floor))


# ---- the prior in the engine, the checkpoint and the featurizer ------------------------------


def prior_for(num_exits: int, num_classes: int) -> TextPrior:
    """A prior whose floor knows classes 0-3 and whose expert covers classes 1 and 3."""
    texts = ["alpha beta", "gamma delta", "beta gamma", "delta alpha"]
    floor = TfidfLinear.from_classifier(text_classifier().fit(texts, [0, 1, 2, 3])).rounded()
    expert = TfidfLinear.from_classifier(text_classifier().fit(texts, [1, 3, 1, 3])).rounded()
    return TextPrior(floor, expert, np.full(num_exits, 0.5), np.full(num_exits, 0.75), num_classes)


def with_text(pages: list, num_classes: int, seed: int = 0) -> list:
    """The pages with random text-prior features: a floor over every class, an expert over 1, 3."""
    rng = np.random.default_rng(seed)
    out = []
    for page in pages:
        expert = np.zeros(num_classes)
        expert[[1, 3]] = rng.dirichlet([0.3, 0.3])
        text = np.stack([rng.dirichlet(np.full(num_classes, 0.3)), expert]).astype(np.float32)
        out.append(dataclasses.replace(page, text=text))  # (2, C)
    return out


def test_the_engine_pools_every_exit_as_the_page_by_page_reference_does():
    from test_engine import assert_same, gap_policy, make_pages, tiny_model

    from docexit.models.batch import collate
    from docexit.models.engine import EarlyExitEngine
    from docexit.models.reference_loop import classify

    model = tiny_model()
    classes = len(model.label_names)
    pages = with_text(make_pages(40), classes)
    policy = gap_policy(model, pages)
    alone = [classify(model, collate([p]), policy)[0] for p in pages]
    model.text_prior = prior_for(len(model.exits), classes)
    want = [classify(model, collate([p]), policy, torch.from_numpy(p.text[None]))[0] for p in pages]
    assert sum(a.label_id != w.label_id for a, w in zip(alone, want, strict=True)) >= 5
    for mode, step_size in (("shrink_refill", 4), ("shrink_refill", 16), ("batch_exit", 8)):
        engine = EarlyExitEngine(model, policy, step_size=step_size, mode=mode, pool_size=24)
        assert_same(engine.classify(enumerate(pages)), want)
        assert engine._page_text == {}  # nothing kept once every page has left
    with pytest.raises(ValueError, match="no text prior features"):
        EarlyExitEngine(model, policy).classify(enumerate(make_pages(2)))


def test_the_prior_travels_with_the_checkpoint_and_reaches_the_features(tiny_model_dir, tmp_path):
    from PIL import Image

    from docexit.models.checkpoint import load_checkpoint, save_checkpoint
    from docexit.transforms.featurize import Featurizer

    model = load_checkpoint(tiny_model_dir)
    assert model.text_prior is None
    model.text_prior = prior_for(len(model.exits), len(model.label_names))
    save_checkpoint(model, tmp_path / "with")
    loaded = load_checkpoint(tmp_path / "with")
    np.testing.assert_array_equal(loaded.text_prior.expert_weights, model.text_prior.expert_weights)
    image = Image.new("L", (64, 64), 255)
    features = Featurizer(tmp_path / "with", 32, 32)(["alpha", "beta"], [[0, 0, 9, 9]] * 2, image)
    np.testing.assert_array_equal(
        features.text, model.text_prior.page_probabilities(["alpha beta"])[0]
    )
    loaded.text_prior = None
    save_checkpoint(loaded, tmp_path / "with")  # the old prior must not stay beside new weights
    assert load_checkpoint(tmp_path / "with").text_prior is None
    assert Featurizer(tmp_path / "with", 32, 32)(["alpha"], [[0, 0, 9, 9]], image).text is None


def test_calibrate_fits_a_text_prior_out_of_fold_and_ships_it(tmp_path):
    """The exits tell advertisement and email apart from budget and file_folder, not from each
    other; the archive text (advertisement and email only) knows each page's own words, and the
    real budget and file_folder pages share a word the text floor learns. Fitted out of fold,
    the prior lifts early-exit accuracy, and the saved model carries it."""
    from conftest import write_archive_text, write_word_split
    from test_training import tiny_model

    from docexit.corpus.sources import LABELS as RVL
    from docexit.models.checkpoint import load_checkpoint, save_checkpoint
    from docexit.models.training.recalibration import ArchiveLogits, ComparisonReport
    from docexit.pipeline.cli import calibrate as calibrate_cli

    base = tiny_model()  # advertisement, budget, email, file_folder
    exits = len(base.config.exits)
    base.config.policy = {"name": "max_prob", "num_exits": exits, "threshold": 0.5}
    save_checkpoint(base, tmp_path / "base")
    labels = [y for y in range(4) for _ in range(15)]
    words = [
        [f"w{y}x{i}"] if y in (0, 2) else [f"shared{y}", f"w{y}x{i}"]
        for y, i in zip(labels, [i for _ in range(4) for i in range(15)], strict=True)
    ]
    write_word_split(tmp_path / "real", "train", list(zip(labels, words, strict=True)), names=True)
    hashes = [f"train{i}" for i in range(60)]
    (tmp_path / "base" / "training.json").write_text(
        json.dumps({"command": "docexit adapt X", "real_page_hashes": hashes})
    )
    y = torch.tensor(labels)
    logits = torch.zeros(60, 4)
    logits[y % 2 == 1, :] = 4.0 * torch.nn.functional.one_hot(y[y % 2 == 1], 4).float()
    logits[y % 2 == 0, 0] = logits[y % 2 == 0, 2] = 2.0  # advertisement or email: a tie
    ArchiveLogits(logits.expand(exits, -1, -1).clone(), None, y, None).save(
        tmp_path / "oof.safetensors", hashes
    )
    records = [
        {"text": " ".join(f"w{c}x{i}" for i in range(15)) + f" n{k}", "rvl_cdip_label": RVL[c]}
        for c in (0, 2)
        for k in range(6)
    ]
    archive = write_archive_text(tmp_path / "t.jsonl.gz", records)
    parser = argparse.ArgumentParser()
    calibrate_cli.add_arguments(parser)
    common = ["--out", str(tmp_path / "out"), "--model", str(tmp_path / "base"), "--folds", "3"]
    common += ["--repeats", "2", "--out-of-fold", str(tmp_path / "oof.safetensors")]
    args = parser.parse_args(
        [*common, "--text-prior", str(tmp_path / "real"), "--archive-text", str(archive)]
    )
    assert calibrate_cli.main(args) == 0
    report = ComparisonReport.from_dict(
        json.loads((tmp_path / "out" / "calibration.json").read_text())
    )
    assert report.shipped.accuracy_early_exit <= 0.75  # email pages called advertisement
    assert report.archive.accuracy_early_exit >= 0.95
    assert report.exits[-1].accuracy_archive >= 0.95
    floor = report.floor  # the pooled text floor on the same pages, paired
    assert floor.accuracy == pytest.approx(report.archive.accuracy_with_visual_exit)
    assert floor.difference == pytest.approx(floor.accuracy - floor.floor_accuracy)
    assert floor.difference_95ci[0] <= floor.difference <= floor.difference_95ci[1]
    assert "Against the text floor" in (tmp_path / "out" / "MODEL_CARD.md").read_text()
    model = load_checkpoint(tmp_path / "out")
    assert model.text_prior.expert.classes.tolist() == [0, 2]
    training = json.loads((tmp_path / "out" / "training.json").read_text())
    assert training["text_prior"]["expert_classes"] == ["advertisement", "email"]
    assert "classes advertisement, email)" in (tmp_path / "out" / "MODEL_CARD.md").read_text()

    for extra, reason in (
        (["--text-prior", str(tmp_path / "real")], "--text-prior needs --archive-text"),
        (["--archive-text", str(archive)], "goes with --text-prior"),
    ):
        with pytest.raises(SystemExit, match=reason):
            calibrate_cli.main(parser.parse_args([*common, *extra]))


def test_archive_text_is_relabelled_in_the_models_class_order():
    from docexit.corpus.archive_text import ArchiveText
    from docexit.models.training.text_prior_fit import in_model_order

    archive = ArchiveText(["a memo", "a letter"], np.array([8, 7]))  # memo, letter (RVL-CDIP ids)
    assert in_model_order(archive, ["letter", "memo"]).labels.tolist() == [1, 0]
    with pytest.raises(ValueError, match=r"classes the model does not have: \['memo'\]"):
        in_model_order(archive, ["letter", "invoice"])


def test_the_engine_bench_gives_corpus_pages_the_models_text_features(tiny_model_dir, tmp_path):
    """`docexit bench engine --corpus` times a model with a prior on pages that carry its text
    features, as the pipeline's featurizer makes them (the engine refuses pages without)."""
    import io

    from conftest import write_word_split
    from PIL import Image

    from docexit.benchmarks.engine_setup import corpus_pages
    from docexit.models.checkpoint import load_checkpoint

    png = io.BytesIO()
    Image.new("L", (64, 64), 255).save(png, format="PNG")
    pages = [(7, ["alpha", "beta"]), (8, ["gamma"]), (6, ["delta", "alpha"])]
    write_word_split(tmp_path / "c", "train", pages, names=True, image_png=png.getvalue())
    model = load_checkpoint(tiny_model_dir)
    assert all(f.text is None for f, _ in corpus_pages(tmp_path / "c", "train", model, 3))
    model.text_prior = prior_for(len(model.exits), len(model.label_names))
    read = corpus_pages(tmp_path / "c", "train", model, 3)
    assert [y for _, y in read] == [7, 8, 6]
    expected = model.text_prior.page_probabilities(["alpha beta", "gamma", "delta alpha"])
    np.testing.assert_array_equal(np.stack([f.text for f, _ in read]), expected)
    out_of_fold = np.stack([f.text for f, _ in corpus_pages(tmp_path / "c", "train", model, 3, 3)])
    np.testing.assert_array_equal(out_of_fold[:, 1], expected[:, 1])  # the expert: as it is
    # the floor: each page's from a floor that never saw it (its own class unseen: 0)
    assert not np.allclose(out_of_fold[:, 0], expected[:, 0])
    assert all(out_of_fold[i, 0, y] == 0 for i, y in enumerate([7, 8, 6]))


def test_calibrate_fits_a_text_prior_on_held_out_pages_replacing_the_models(
    tiny_model_dir, tmp_path
):
    """`docexit calibrate --data PAGES --text-prior PAGES`: the model's outputs on labelled pages
    it never saw, without its old prior; the new prior is fitted on those pages and the report
    pairs the pipeline with the text floor."""
    import io

    from conftest import write_archive_text, write_word_split
    from PIL import Image

    from docexit.corpus.sources import LABELS as RVL
    from docexit.models.checkpoint import load_checkpoint, save_checkpoint
    from docexit.models.training.recalibration import ComparisonReport
    from docexit.pipeline.cli import calibrate as calibrate_cli

    model = load_checkpoint(tiny_model_dir)
    model.text_prior = prior_for(len(model.exits), len(model.label_names))  # alpha, beta, ...
    save_checkpoint(model, tmp_path / "with-prior")
    png = io.BytesIO()
    Image.new("L", (64, 64), 255).save(png, format="PNG")
    pages = [(y, [f"kw{y}", f"p{y}x{i}"]) for y in range(4) for i in range(9)]
    write_word_split(tmp_path / "held", "test", pages, names=True, image_png=png.getvalue())
    records = [
        {"text": f"kw{c} archive note number {k}", "rvl_cdip_label": RVL[c]}
        for c in (0, 2)
        for k in range(4)
    ]
    archive = write_archive_text(tmp_path / "t.jsonl.gz", records)
    parser = argparse.ArgumentParser()
    calibrate_cli.add_arguments(parser)
    held = str(tmp_path / "held")
    argv = ["--data", held, "--text-prior", held, "--archive-text", str(archive)]
    argv += ["--model", str(tmp_path / "with-prior"), "--out", str(tmp_path / "out")]
    assert calibrate_cli.main(parser.parse_args([*argv, "--folds", "3", "--repeats", "1"])) == 0

    calibrated = load_checkpoint(tmp_path / "out")
    assert {"kw0", "kw3"} <= set(calibrated.text_prior.floor.vocabulary)  # fitted on these pages
    assert "alpha" not in calibrated.text_prior.floor.vocabulary
    report = ComparisonReport.from_dict(
        json.loads((tmp_path / "out" / "calibration.json").read_text())
    )
    assert report.floor is not None and report.n == 36
    assert report.archive.accuracy_early_exit >= 0.9  # each class's keyword, learnt out of fold
    small = ["--folds", "0", "--prior-words", "4", "--out", str(tmp_path / "small")]
    assert calibrate_cli.main(parser.parse_args([*argv, *small])) == 0
    assert set(load_checkpoint(tmp_path / "small").text_prior.floor.vocabulary) == {
        f"kw{y}" for y in range(4)
    }  # the 4 most frequent words


def test_as_before_is_the_model_with_its_own_prior_when_the_pages_text_is_known():
    from docexit.models.training.recalibration import ArchiveLogits
    from docexit.models.training.text_prior_fit import pooled
    from docexit.pipeline.cli.calibrate import TextPriorInputs, as_before

    prior = prior_for(2, 16)
    texts = ["alpha beta", "gamma", "delta alpha"]
    logits = torch.randn(2, 3, 16, generator=torch.Generator().manual_seed(0))  # (E, N, C)
    pages = ArchiveLogits(logits, None, torch.tensor([0, 1, 3]), None)
    fit = TextPriorInputs(prior, None, texts, None)
    expected = pooled(prior, pages, torch.from_numpy(prior.page_probabilities(texts)))
    torch.testing.assert_close(as_before(prior, pages, fit).logits, expected.logits)
    assert not torch.allclose(expected.logits, torch.log_softmax(logits, -1))
    assert as_before(None, pages, fit) is pages  # no prior of its own: the exits' outputs
    assert as_before(prior, pages, None) is pages  # no text to pool with

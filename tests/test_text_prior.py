"""`models.text_prior`: the bag-of-words classifiers in numpy give scikit-learn's probabilities,
survive a save and load, and pool into an exit's output as the floor's pooling does."""

from __future__ import annotations

import numpy as np
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


def test_numpy_tfidf_linear_gives_scikit_learns_probabilities():
    for labels in (LABELS, np.array([7, 8, 7, 7, 8, 8])):  # three classes, and two (binary)
        classifier = text_classifier().fit(TEXTS, labels)
        unseen = ["thank you for the letter", "amount due: invoice", "", "zzz qqq"]
        expected = class_probabilities(classifier, TEXTS + unseen, 16)
        ours = TfidfLinear.from_classifier(classifier).probabilities(TEXTS + unseen, 16)
        np.testing.assert_allclose(ours, expected, atol=1e-9)


def test_a_saved_prior_loads_back_the_same(tmp_path):
    floor = TfidfLinear.from_classifier(text_classifier().fit(TEXTS, LABELS))
    expert = TfidfLinear.from_classifier(text_classifier().fit(TEXTS[:2] * 2, [7, 8, 7, 8]))
    prior = TextPrior(floor, expert, np.array([0.0, 0.5]), np.array([0.25, 0.0]))
    assert TextPrior.load(tmp_path) is None
    prior.save(tmp_path)
    loaded = TextPrior.load(tmp_path)
    assert loaded.floor.vocabulary == floor.vocabulary
    np.testing.assert_array_equal(loaded.expert.classes, [7, 8])
    np.testing.assert_array_equal(
        loaded.page_probabilities(TEXTS, 16), prior.page_probabilities(TEXTS, 16)
    )
    logits = torch.randn(6, 16, generator=torch.Generator().manual_seed(0))
    text = torch.from_numpy(prior.page_probabilities(TEXTS, 16))  # (N, 2, C)
    for exit_index in (0, 1):
        torch.testing.assert_close(
            loaded.combine(exit_index, logits, text), prior.combine(exit_index, logits, text)
        )


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

"""keras.ops.ctc_loss against PyTorch's CTC loss (values and gradients), on every backend, in a traced step too."""

from __future__ import annotations

import numpy as np
import pytest

import highnn as hn
from highnn.backends import to_host
from highnn.tracing import TracedFunction

RNG = np.random.default_rng(4)
BATCH, STEPS, CLASSES, LABELS = 4, 12, 6, 4
LOGITS = RNG.normal(size=(BATCH, STEPS, CLASSES))
TARGETS = RNG.integers(1, CLASSES, size=(BATCH, LABELS))
TARGETS[0, 1] = TARGETS[0, 0]  # a repeated label needs a blank between its two frames
TARGET_LENGTHS = np.array([4, 2, 0, 3])  # an empty target: the path of blanks alone
OUTPUT_LENGTHS = np.array([12, 9, 5, 7])


@pytest.mark.parametrize("blank", [0, CLASSES - 1])
def test_ctc_loss_matches_pytorch(backend64: str, blank: int) -> None:
    targets = np.where(blank == TARGETS, (blank + 1) % CLASSES, TARGETS) if blank else TARGETS
    expected_losses, expected_gradient = torch_ctc_for(targets, blank)
    logits = hn.tensor(LOGITS, requires_grad=True)
    losses = hn.ops.ctc_loss(targets, logits, TARGET_LENGTHS, OUTPUT_LENGTHS, mask_index=blank)
    (gradient,) = hn.grad(losses.sum(), [logits])
    np.testing.assert_allclose(to_host(losses.value), expected_losses, rtol=1e-12)
    np.testing.assert_allclose(to_host(gradient.value), expected_gradient, atol=1e-12)


def torch_ctc_for(targets: np.ndarray, blank: int) -> tuple[np.ndarray, np.ndarray]:
    torch = pytest.importorskip("torch")
    logits = torch.tensor(LOGITS, requires_grad=True)
    losses = torch.nn.functional.ctc_loss(
        torch.log_softmax(logits, -1).transpose(0, 1), torch.tensor(targets), torch.tensor(OUTPUT_LENGTHS),
        torch.tensor(TARGET_LENGTHS), blank=blank, reduction="none",
    )  # fmt: skip
    losses.sum().backward()
    return losses.detach().numpy(), logits.grad.numpy()


def test_ctc_loss_in_a_traced_step_reads_each_calls_lengths() -> None:
    """The lengths are tensors of the step, not constants of its trace."""
    step = TracedFunction(lambda logits, lengths: [hn.ops.ctc_loss(TARGETS, logits, TARGET_LENGTHS, lengths)])
    with hn.config.use_backend("numpy", floatx="float64"):
        (first,) = step(LOGITS, OUTPUT_LENGTHS)
        (second,) = step(LOGITS, np.full(BATCH, STEPS))
        direct = hn.ops.ctc_loss(TARGETS, LOGITS, TARGET_LENGTHS, np.full(BATCH, STEPS))
    np.testing.assert_allclose(to_host(first), torch_ctc_for(TARGETS, 0)[0], rtol=1e-12)
    np.testing.assert_allclose(to_host(second), to_host(direct.value), rtol=1e-12)


def test_ctc_loss_checks_its_shapes() -> None:
    with pytest.raises(ValueError, match=r"ctc_loss: `output` must be logits \(batch, steps, classes\)"):
        hn.ops.ctc_loss(TARGETS, LOGITS[0], TARGET_LENGTHS, OUTPUT_LENGTHS)


def greedy_reference(scores: np.ndarray, lengths: np.ndarray, merge: bool, blank: int) -> tuple[np.ndarray, ...]:
    """Greedy decoding sequence by sequence: best class per step, repeats merged, blanks dropped, -1 after."""
    decoded = np.full(scores.shape[:2], -1)
    for row, (sequence, length) in enumerate(zip(scores, lengths)):
        best = sequence[:length].argmax(axis=-1)
        kept = [c for t, c in enumerate(best) if c != blank and not (merge and t and best[t - 1] == c)]
        decoded[row, : len(kept)] = kept
    totals = -np.array([sequence[:length].max(axis=-1).sum() for sequence, length in zip(scores, lengths)])
    return decoded[None], totals[:, None]


@pytest.mark.parametrize(("merge", "blank"), [(True, 0), (False, 0), (True, CLASSES - 1)])
def test_greedy_ctc_decode_matches_its_definition(backend64: str, merge: bool, blank: int) -> None:
    scores = LOGITS.copy()
    scores[0, 2] = scores[0, 1]  # the same best class twice in a row
    expected_decoded, expected_scores = greedy_reference(scores, OUTPUT_LENGTHS, merge, blank)
    decoded, totals = hn.ops.ctc_decode(scores, OUTPUT_LENGTHS, merge_repeated=merge, mask_index=blank)
    np.testing.assert_array_equal(to_host(decoded.value), expected_decoded)
    np.testing.assert_allclose(to_host(totals.value), expected_scores, rtol=1e-12)
    step = TracedFunction(
        lambda s, lengths: list(hn.ops.ctc_decode(s, lengths, merge_repeated=merge, mask_index=blank))
    )
    traced, _ = step(hn.tensor(scores).value, hn.tensor(OUTPUT_LENGTHS).value)  # the backend's arrays, as fit's
    np.testing.assert_array_equal(to_host(traced), expected_decoded)
    with pytest.raises(ValueError, match=r"ctc_decode: `strategy` must be one of 'greedy', received 'beam_search'"):
        hn.ops.ctc_decode(scores, OUTPUT_LENGTHS, strategy="beam_search")

"""Mode collapse, seen in the sample grid: a generator that gives (nearly) the same image whatever its input.

GANs can collapse, and FastCUT's default lambda_NCE 10 is known to on some data (the CUT repository's
issue #94: FID 252 against 60 with lambda 1). The loss curves do not show it; the sample grid does, so
the engine checks each grid: a translated column whose images barely differ across examples while
its inputs do, and that still holds a picture (a fresh network's near-blank outputs do not count).
"""

from __future__ import annotations

import math

import torch

# A translated column is collapsed when its images differ across examples by less than this share of
# how much their inputs differ, while each image still varies within itself at least MIN_DETAIL as
# much as its input does. Tuned on tests/test_collapse.py's cases; a healthy run sits far from both.
MAX_SPREAD = 0.05
MIN_DETAIL = 0.25


def _across_examples(images: torch.Tensor) -> float:
    """How much a column's images differ from each other: the per-pixel std across examples, averaged."""
    return float(images.float().std(dim=0).mean())


def _within_images(images: torch.Tensor) -> float:
    """How much each image varies inside itself: the per-image std over its pixels, averaged."""
    return float(images.float().flatten(1).std(dim=1).mean())


def relative_spread(outputs: torch.Tensor, inputs: torch.Tensor) -> float:
    """How much translated images differ across examples, as a share of how much their inputs do
    (NaN when the inputs are all the same)."""
    input_spread = _across_examples(inputs)
    return _across_examples(outputs) / input_spread if input_spread else float("nan")


def collapsed_columns(
    rows: list[list[torch.Tensor]], labels: list[str], translations: dict[str, str]
) -> list[tuple[str, float]]:
    """(label, spread relative to the inputs') of every translated column that looks collapsed.

    `translations` maps an output column's label to its input column's ("A->B": "A"); columns of
    other sizes than their inputs (super-resolution) compare fine, since both measures are averages.
    """
    if len(rows) < 2:
        return []
    columns = {label: torch.stack([row[i] for row in rows]) for i, label in enumerate(labels)}
    found = []
    for output, source in translations.items():
        if output not in columns or source not in columns:
            continue
        outputs, inputs = columns[output], columns[source]
        spread = relative_spread(outputs, inputs)
        if math.isnan(spread):  # the same input everywhere: nothing to compare
            continue
        detail = _within_images(outputs) / max(_within_images(inputs), 1e-12)
        if spread < MAX_SPREAD and detail >= MIN_DETAIL:
            found.append((output, spread))
    return found


def collapse_warning(label: str, spread: float, step: int) -> str:
    return (
        f"step {step}: the {label} samples are nearly the same image whatever the input (they differ "
        f"{spread:.1%} as much as their inputs): the generator may have collapsed. Look at the sample grid; "
        "a lower adversarial weight or, for FastCUT, --lambda-nce 1 often helps"
    )

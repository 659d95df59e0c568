"""The final landmark pass averages the landmarker over jittered boxes: more boxes, less dependence on
where the pass started (a tracked face and a freshly detected one start from different guesses)."""

from __future__ import annotations

import numpy as np
import pytest

from facegraft.errors import InputError
from facegraft.extract.landmarkers import MAX_ENSEMBLE, jitter_table, jittered_boxes, make_landmarker
from facegraft.extract.pipeline import ExtractOptions
from facegraft.geometry.alignment import eye_distance


def test_the_first_nine_boxes_are_the_hand_placed_ones_and_more_fill_the_range_without_repeats() -> None:
    table = jitter_table(MAX_ENSEMBLE)
    assert table[:9] == jitter_table(9)
    assert table[0] == (0, 0, 1.0)
    assert len(set(table)) == MAX_ENSEMBLE
    d = np.array(table)
    assert np.all(np.abs(d[:, :2]) <= 1) and np.all(np.abs(d[:, 2] - 1) <= 0.04 + 1e-12)
    # the added boxes spread over the whole square, not a corner of it
    assert d[9:, 0].min() < -0.5 < 0.5 < d[9:, 0].max() and d[9:, 1].min() < -0.5 < 0.5 < d[9:, 1].max()
    boxes = jittered_boxes(np.array([100.0, 200.0, 300.0, 400.0]), 40)
    assert len(boxes) == MAX_ENSEMBLE  # capped


def test_ensemble_outside_its_range_is_refused() -> None:
    ExtractOptions(ensemble=MAX_ENSEMBLE).validate()
    for bad in (0, MAX_ENSEMBLE + 1):
        with pytest.raises(InputError, match="--ensemble"):
            ExtractOptions(ensemble=bad).validate()


def _spread(photo: np.ndarray, start: np.ndarray, ensemble: int) -> float:
    """Mean disagreement (% of the eye distance, mean over the 68 points) between final passes started
    from the landmarks moved by a few pixels and by 2% in scale: what tracking vs detection amounts to."""
    lm = make_landmarker("dlib68", ensemble=ensemble)
    centre = start.mean(0)
    shifts = ([0, 0], [3, 0], [0, -3], [-2, 2], [1.5, 1.5], [-1, -2])
    starts = [start + np.array(s) for s in shifts] + [(start - centre) * k + centre for k in (0.98, 1.02)]
    finals = [lm.refine(photo, s, final=True) for s in starts]
    ed = eye_distance(start)
    return float(
        np.mean(
            [
                np.linalg.norm(a - b, axis=1).mean() / ed * 100
                for i, a in enumerate(finals)
                for b in finals[i + 1 :]
            ]
        )
    )


def test_more_boxes_make_the_final_pass_depend_less_on_where_it_started(photos, reference_landmarks) -> None:
    # Grace Hopper's face spans ~175 px. (On a face a third that size, like the astronaut's, dlib's
    # whole-pixel outputs set the floor instead and boxes beyond nine add little.)
    one, nine, many = (
        _spread(photos["grace_hopper"], reference_landmarks["grace_hopper"], n) for n in (1, 9, 24)
    )
    print(f"mean disagreement: 1 box {one:.2f}%, 9 boxes {nine:.2f}%, 24 boxes {many:.2f}%")
    assert nine < 0.6 * one
    assert many < 0.8 * nine

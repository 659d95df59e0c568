"""Hard cuts on a plate: where one shot ends and the next begins.

Each frame is reduced to a small signature (a colour histogram and a tiny normalised grey picture). A cut
is a frame whose signature differs from the previous frame's far more than the differences inside the shot
so far do, and which the following frame confirms (a flash or a one-frame glitch returns to the old
picture; a cut does not). Costs well under a millisecond a frame.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np

THUMB = (32, 18)  # grey signature size (w, h)
HIST_BINS = (12, 4, 4)  # hue, saturation, value
MIN_CUT = 0.2  # a change smaller than this is never a cut
CUT_RATIO = 4.0  # ... nor one less than this many times the shot's typical frame-to-frame change
RECENT = 12  # frames whose changes set the shot's typical change
TYPICAL_FLOOR = 0.03  # typical change assumed at least this (a locked-off shot changes ~0)
REVERT = 0.5  # a next frame this much closer to the old picture than the new one makes it a flash

T = TypeVar("T")


@dataclass(frozen=True)
class Signature:
    """What a frame is compared by: (192,) normalised HSV histogram and (18, 32) zero-mean unit grey."""

    hist: np.ndarray
    thumb: np.ndarray


def signature(rgb: np.ndarray) -> Signature:
    """Signature of an (H, W, 3) uint8 frame."""
    small = cv2.resize(rgb, (THUMB[0] * 2, THUMB[1] * 2), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(HIST_BINS), [0, 180, 0, 256, 0, 256]).ravel()
    hist = hist / max(float(hist.sum()), 1.0)
    grey = cv2.resize(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), THUMB, interpolation=cv2.INTER_AREA)
    grey = grey.astype(np.float32)
    grey -= grey.mean()
    grey /= max(float(grey.std()), 4.0)  # flat frames (black) stay near 0 rather than amplified noise
    return Signature(hist.astype(np.float32), grey)


def change(a: Signature, b: Signature) -> float:
    """0..1 how different two frames look: the mean of the histograms' Hellinger distance and the grey
    pictures' decorrelation."""
    hellinger = float(np.sqrt(max(0.0, 1.0 - float(np.sqrt(a.hist * b.hist).sum()))))
    ncc = float((a.thumb * b.thumb).mean())
    return 0.5 * hellinger + 0.5 * float(np.clip((1.0 - ncc) / 2.0, 0.0, 1.0))


class CutDetector:
    """Streaming cut decisions: `push` each frame's signature in order; a frame's verdict comes one frame
    later (the next frame confirms it), `finish` gives the last one."""

    def __init__(self) -> None:
        self._before: Signature | None = None  # the frame before the pending one
        self._pending: Signature | None = None
        self._pending_change = 0.0
        self._recent: deque[float] = deque(maxlen=RECENT)

    def push(self, sig: Signature) -> bool | None:
        """Verdict on the previous frame pushed (True: a cut lies before it); None for the first push."""
        if self._pending is None:
            self._pending = sig
            return None
        verdict = self._judge(sig)
        self._before, self._pending = self._pending, sig
        self._pending_change = change(self._before, sig)
        return verdict

    def finish(self) -> bool | None:
        """Verdict on the last frame pushed (no next frame to confirm it: judged on its change alone)."""
        if self._pending is None:
            return None
        verdict = self._judge(None)
        self._pending = None
        return verdict

    def _judge(self, following: Signature | None) -> bool:
        d = self._pending_change
        if self._before is None:
            return False
        typical = max(float(np.median(self._recent)) if self._recent else TYPICAL_FLOOR, TYPICAL_FLOOR)
        cut = d >= MIN_CUT and d >= CUT_RATIO * typical
        if cut and following is not None:
            back = change(self._before, following)
            cut = back > REVERT * d + (1 - REVERT) * change(self._pending, following)
        if cut:
            self._recent.clear()
        else:
            self._recent.append(d)
        return cut


def mark_cuts(frames: Iterable[tuple[T, np.ndarray, bool]]) -> Iterator[tuple[T, np.ndarray, bool]]:
    """(item, rgb, follows) in order -> (item, rgb, cut) with one frame of delay. `follows` says the frame
    comes straight after the previous one; where it does not (a resumed run's gap) comparing them says
    nothing, so the frame starts afresh and is no cut, like the first frame."""
    detector = CutDetector()
    held: tuple[T, np.ndarray] | None = None
    source = iter(frames)
    while True:
        try:
            item, rgb, follows = next(source)
        except StopIteration:
            break
        except BaseException:  # a frame that fails to read: the one held back is still good, hand it on
            if held is not None:
                yield held[0], held[1], bool(detector.finish())
            raise
        if not follows:
            if held is not None:
                yield held[0], held[1], bool(detector.finish())
            detector, held = CutDetector(), None
        verdict = detector.push(signature(rgb))
        if held is not None:
            yield held[0], held[1], bool(verdict)
        held = (item, rgb)
    if held is not None:
        yield held[0], held[1], bool(detector.finish())

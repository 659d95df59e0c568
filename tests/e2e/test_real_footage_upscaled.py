"""A real plate delivered larger than it was shot (a 640x480 clip scaled to 1080p, as an online or a
conform does): the whole frame's detection scale sees texture differently, and a patch of sunlit foliage
scores as a face there (0.7-0.9). Extraction must not store it, on a frame or as a track, while every real
face at least `--min-size` wide on the scaled plate is still found. Measured against the clip's
two-detector reference mapped onto the scaled frames."""

from __future__ import annotations

import av
import cv2
import numpy as np
from support.real_footage import load_reference, matches

HD = (1920, 1080)
FRAMES = 15


def scaled_frames(path, count: int):
    """The first `count` frames scaled to 1080 px high, centred on a black 1920x1080 frame; the scale and
    the left offset that map the clip's pixels onto them, and the clip's frame rate."""
    out = []
    with av.open(str(path)) as container:
        fps = float(container.streams.video[0].average_rate or 25)
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            k = HD[1] / h
            nw = round(w * k)
            x0 = (HD[0] - nw) // 2
            canvas = np.zeros((HD[1], HD[0], 3), np.uint8)
            canvas[:, x0 : x0 + nw] = cv2.resize(rgb, (nw, HD[1]), interpolation=cv2.INTER_LINEAR)
            out.append(canvas)
            if len(out) == count:
                break
    return out, k, x0, fps


def test_an_upscaled_plate_stores_no_texture_as_a_face_and_keeps_every_real_one():
    from facegraft.extract.pipeline import ExtractOptions, build_tracker

    reference = load_reference("openmpf_hikers")
    frames, k, x0, fps = scaled_frames(reference.path, FRAMES)

    def mapped(box):
        return (box[0] * k + x0, box[1] * k, box[2] * k + x0, box[3] * k)

    opts = ExtractOptions(embeddings=False)
    tracker = build_tracker(opts, fps)
    non_faces, missed, wanted = [], [], 0
    for index, rgb in enumerate(frames):
        faces = tracker.step(rgb, index, cut=index == 0)
        seen = [mapped(d.box) for per in reference.detections.values() for d in per.get(index, [])]
        for face in faces:
            box = tuple(float(v) for v in face.box)
            lo, hi = face.landmarks.min(0), face.landmarks.max(0)
            if not any(matches(ref, box, (*lo, *hi)) for ref in seen):
                non_faces.append((index, tuple(round(v) for v in box)))
        for agreed in reference.agreed.get(index, []):
            target = mapped(agreed.box)
            if target[2] - target[0] < opts.min_size:
                continue
            wanted += 1
            if not any(matches(target, tuple(float(v) for v in f.box)) for f in faces):
                missed.append((index, tuple(round(v) for v in target)))
    assert non_faces == [], f"stored faces no reference detector finds (frame, box): {non_faces}"
    assert wanted > 0 and missed == [], f"{len(missed)} of {wanted} agreed faces missed: {missed}"

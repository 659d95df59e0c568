"""What delivery does to a frame, as the watermark is specified to survive it: H.264 at CRF 23, a 50%
downscale, a 10% brightness change (gain or offset, up or down), a crop that keeps the face. Frames are
(H, W, 3) uint8 display-referred, as they leave the engine's PNG and video outputs."""

from __future__ import annotations

import io
from collections.abc import Callable

import cv2
import numpy as np


def h264(frames: list[np.ndarray], crf: int = 23, fps: int = 24) -> list[np.ndarray]:
    """The frames after an H.264 (libx264, yuv420p) round trip at `crf`: a whole sequence, since the codec
    predicts frames from each other."""
    import av

    buf = io.BytesIO()
    h, w = frames[0].shape[:2]
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = w - w % 2, h - h % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf)}
        for f in frames:
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(f[: h - h % 2, : w - w % 2]), format="rgb24"
            )
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    buf.seek(0)
    with av.open(buf) as container:
        return [fr.to_ndarray(format="rgb24") for fr in container.decode(video=0)]


def downscale(frame: np.ndarray, factor: float = 0.5) -> np.ndarray:
    """The frame resized by `factor` with area filtering, as a delivery transcode would."""
    h, w = frame.shape[:2]
    return cv2.resize(frame, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)


def gain(frame: np.ndarray, factor: float) -> np.ndarray:
    """Brightness as a gain (1.1: 10% brighter), clipped to 8 bits."""
    return np.clip(frame.astype(np.float32) * factor + 0.5, 0, 255).astype(np.uint8)


def offset(frame: np.ndarray, amount: float) -> np.ndarray:
    """Brightness as an offset in 0..1 units (0.1: a tenth of full scale brighter), clipped to 8 bits."""
    return np.clip(frame.astype(np.float32) + amount * 255.0 + 0.5, 0, 255).astype(np.uint8)


def crop_around(frame: np.ndarray, landmarks: np.ndarray, margin: float = 0.6) -> np.ndarray:
    """A crop keeping the face with `margin` face widths around it (more above, for the forehead)."""
    x0, y0 = landmarks.min(axis=0)
    x1, y1 = landmarks.max(axis=0)
    w = x1 - x0
    h, fw = frame.shape[:2]
    top, left = max(0, int(y0 - (margin + 0.3) * w)), max(0, int(x0 - margin * w))
    return frame[top : min(h, int(y1 + margin * w)), left : min(fw, int(x1 + margin * w))].copy()


Attack = Callable[[list[np.ndarray], list[np.ndarray]], list[np.ndarray]]

# Each attack takes a sequence and each frame's face landmarks (for the crop) and returns the sequence.
ATTACKS: dict[str, Attack] = {
    "none": lambda frames, _: list(frames),
    "h264-crf23": lambda frames, _: h264(frames, 23),
    "downscale-50%": lambda frames, _: [downscale(f) for f in frames],
    "brightness+10%": lambda frames, _: [gain(f, 1.1) for f in frames],
    "brightness-10%": lambda frames, _: [gain(f, 0.9) for f in frames],
    "offset+0.1": lambda frames, _: [offset(f, 0.1) for f in frames],
    "crop-keeping-face": lambda frames, faces: [crop_around(f, lm) for f, lm in zip(frames, faces)],
}

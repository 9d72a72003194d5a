"""A plate whose right answer is known: a dark-outlined object sliding fast over a background.

Shared by the invented-structure measure's tests (where the answer is known before the measure is
trusted) and the keyframe engine's wake tests. The plate is a disc (or, `translucent=True`, a
half-transparent disc) moving ``speed`` pixels a frame to the right over a flat or a textured
background that pans slowly; its motion is exact (backward/forward flows per frame, the disc's
where its alpha covers more than half the pixel). `paint` is the demo's paint-over filter
(`stylelock.core.paint.paint_keyframe`: flat colours, ink outlines on edges, brush texture), so
"the same painting of this frame" is always at hand: `painted_every_frame` is an output with no
invented structure by construction (it flickers: its brush texture does not move with the plate).

Known-bad outputs are built from it: `wake` (the background the disc uncovered since the
keyframe, hatched with ink lines across its path, as a keyframe engine that inks each uncovered
strip leaves behind), `ghost` (the keyframe's outline left where it was painted, over the
background) and `smear` (the disc's paint dragged over the background it uncovered).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stylelock.core.paint import paint_keyframe


@dataclass
class Scene:
    width: int = 192
    height: int = 112
    frames: int = 12
    speed: float = 4.0
    """Disc motion in pixels a frame (to the right)."""
    pan: float = 0.4
    """Background motion in pixels a frame (to the left), 0 for a locked-off camera."""
    textured: bool = False
    texture: float = 0.06
    """Contrast of the background's texture (standard deviations of noise, in display values)."""
    translucent: bool = False
    radius: float = 16.0
    seed: int = 7

    def _background(self, t: int) -> np.ndarray:
        h, w = self.height, self.width
        base = np.empty((h, w, 3), np.float32)
        base[...] = (0.35, 0.55, 0.8)  # a sky
        if not self.textured:
            return base
        rng = np.random.default_rng(self.seed)
        big = cv2.GaussianBlur(rng.random((h, w + 64)).astype(np.float32), (0, 0), 2.0)
        big = (big - big.mean()) / big.std()
        shift = np.float32([[1, 0, 8.0 + self.pan * t], [0, 1, 0]])
        tex = cv2.warpAffine(big, shift, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)
        return np.clip(base + self.texture * tex[..., None] * np.float32([1.0, 0.8, 0.5]), 0.0, 1.0)

    def centre(self, t: int) -> tuple[float, float]:
        return (0.28 * self.width + self.speed * t, 0.5 * self.height)

    def alpha(self, t: int) -> np.ndarray:
        h, w = self.height, self.width
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy = self.centre(t)
        r = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)
        return np.clip(self.radius + 0.5 - r, 0.0, 1.0).astype(np.float32)

    def plate(self, t: int) -> np.ndarray:
        """Display-referred RGB (model space) of frame t (t = 0 is the keyframe)."""
        a = self.alpha(t)[..., None]
        disc = np.float32([0.85, 0.45, 0.12])  # an orange ball
        if self.translucent:
            a = a * 0.5
        return np.ascontiguousarray(self._background(t) * (1 - a) + disc * a, dtype=np.float32)

    def flows(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(back, fore): frame t -> t-1 on t's grid, frame t-1 -> t on t-1's grid, exact."""
        h, w = self.height, self.width
        back = np.zeros((h, w, 2), np.float32)
        fore = np.zeros((h, w, 2), np.float32)
        back[..., 0] = np.where(self.alpha(t) > 0.5, -self.speed, self.pan)
        fore[..., 0] = np.where(self.alpha(t - 1) > 0.5, self.speed, -self.pan)
        return back, fore

    def paint(self, t: int) -> np.ndarray:
        return paint_keyframe(self.plate(t))

    def painted_every_frame(self) -> list[np.ndarray]:
        return [self.paint(t) for t in range(self.frames)]

    def plate_without_disc(self, t: int) -> np.ndarray:
        return np.ascontiguousarray(self._background(t), dtype=np.float32)

    def carried(self) -> list[np.ndarray]:
        """What an ideal carrying engine returns: the keyframe's painting, each layer moved with its
        own motion (the disc with its outline, 3 px around its edge, with the disc; the background
        with the pan, and where the keyframe's disc hid it, painted as if the artist had seen it),
        sampled once per frame."""
        key = self.paint(0)
        a0 = (self.alpha(0) > 0.5).astype(np.uint8)
        layer = cv2.dilate(a0, np.ones((7, 7), np.uint8)).astype(np.float32)
        hidden = cv2.GaussianBlur(cv2.dilate(layer, np.ones((3, 3), np.uint8)), (0, 0), 1.0)[..., None]
        background = key * (1 - hidden) + paint_keyframe(self.plate_without_disc(0)) * hidden
        out = []
        for t in range(self.frames):

            def moved(img: np.ndarray, dx: float, border: int) -> np.ndarray:
                m = np.float32([[1, 0, dx], [0, 1, 0]])
                size = (self.width, self.height)
                return cv2.warpAffine(img, m, size, flags=cv2.INTER_LANCZOS4, borderMode=border)

            disc = moved(key, self.speed * t, cv2.BORDER_CONSTANT)
            cover = np.clip(moved(layer, self.speed * t, cv2.BORDER_CONSTANT), 0.0, 1.0)[..., None]
            bg = moved(background, -self.pan * t, cv2.BORDER_REFLECT101)
            out.append(np.clip(disc * cover + bg * (1 - cover), 0.0, 1.0).astype(np.float32))
        return out

    # -- known-bad outputs ------------------------------------------------------------------------
    def _uncovered(self, t: int) -> np.ndarray:
        """Background pixels at frame t that the disc covered at some frame since the keyframe,
        in background coordinates moved to frame t, and not covered now."""
        swept = np.zeros((self.height, self.width), bool)
        for s in range(t + 1):
            a = self.alpha(s)
            moved = np.roll(a, -round(self.pan * (t - s)), axis=1)
            swept |= moved > 0.5
        return swept & (self.alpha(t) < 0.02)

    def wake(self, tint: float = 0.0) -> list[np.ndarray]:
        """The painting with the uncovered background hatched by ink lines, one per frame's strip
        (as a keyframe engine that inks each uncovered strip from the object's outline leaves it),
        and with ``tint`` > 0 also pulled that far towards the object's paint (the grey or pink
        cast of the object's colour dragged along with its outline)."""
        out = []
        ink = np.float32([0.08, 0.08, 0.1])
        xs = np.arange(self.width, dtype=np.float32)[None, :]
        disc = self.paint(0)[self.alpha(0) > 0.9].mean(axis=0)
        for t, good in enumerate(self.painted_every_frame()):
            # background-fixed lines every `speed` pixels, 1.5 px wide, like strips inked one by one
            phase = (xs + self.pan * t) % max(self.speed, 3.0)
            swept = self._uncovered(t)
            lines = np.broadcast_to(phase < 1.5, good.shape[:2]) & swept
            cast = np.where(swept[..., None], good + tint * (disc - good), good)
            out.append(np.where(lines[..., None], ink, cast).astype(np.float32))
        return out

    def ghost(self) -> list[np.ndarray]:
        """The painting with the keyframe's outline kept where it was painted, over the background."""
        key = self.paint(0)
        a0 = self.alpha(0)
        ring = (cv2.dilate((a0 > 0.5).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0) & (
            cv2.erode((a0 > 0.5).astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
        )
        dark = ring & (key.mean(axis=-1) < 0.3)  # the ink of the outline
        out = []
        for t, good in enumerate(self.painted_every_frame()):
            moved = np.roll(dark, -round(self.pan * t), axis=1) & (self.alpha(t) < 0.02)
            keep = np.roll(key, -round(self.pan * t), axis=1)
            out.append(np.where(moved[..., None], keep, good).astype(np.float32))
        return out

    def smear(self) -> list[np.ndarray]:
        """The disc's paint dragged over the background it uncovered."""
        out = []
        for t, good in enumerate(self.painted_every_frame()):
            disc = good[self.alpha(t) > 0.9].mean(axis=0)
            out.append(np.where(self._uncovered(t)[..., None], disc, good).astype(np.float32))
        return out

"""Optical flow between plate frames: estimation, warping, occlusion and motion-vector AOVs.

Conventions (every function here and every caller shares them):

- Image coordinates: x to the right, y DOWN, origin at the centre of the top-left pixel; arrays are
  indexed ``[y, x]`` as numpy and OpenCV do.
- A flow ``F`` of shape (h, w, 2) float32 lives on the grid of a *source* frame ``src``:
  pixel (x, y) of ``src`` shows the same scene point as position
  (x + F[y, x, 0], y + F[y, x, 1]) of the *destination* frame ``dst``. In pixels, at the arrays'
  resolution. This is OpenCV's convention (``prev(y, x) ~ next(y + F_y, x + F_x)``).
- "Forward" flow of frame t points to t+1 (src = t, dst = t+1); "backward" flow of frame t points
  to t-1 (src = t, dst = t-1). Both live on frame t's grid.
- ``warp(dst, F)`` is a backward warp: it pulls ``dst`` onto the grid of ``src``, so
  ``warp(dst, estimate_flow(src, dst)) ~ src`` wherever the point is visible in both frames. To
  bring the previous output O_{t-1} onto frame t, warp it with the backward flow of frame t.

Motion vectors a plate carries are preferred to any estimate (a renderer knows the true motion);
`flow_from_vectors` converts Nuke's and Blender's AOVs into the convention above.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from stylelock.core.errors import SpecError

log = logging.getLogger(__name__)

PRESETS = ("ultrafast", "fast", "medium")
BORDERS = ("replicate", "constant", "reflect")
DIRECTIONS = ("forward", "backward")

# Rec. 709 luma weights: the flow estimator sees display-referred luma, as a viewer would. Shared by
# every module that needs the luma of a display-referred RGB image.
LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


@dataclass(frozen=True)
class FlowSource:
    """Where a flow came from, reported by engines and `stylelock qc`.

    ``kind`` is ``"vectors:<channels>"`` (e.g. ``"vectors:forward.u/v"``, ``"vectors:Vector"``) for
    motion vectors read from the plate, or ``"estimated:dis-<preset>"`` for OpenCV DIS flow.
    """

    kind: str

    @classmethod
    def estimated(cls, preset: str = "medium") -> FlowSource:
        return cls(f"estimated:dis-{preset}")

    @classmethod
    def vectors(cls, channels: str) -> FlowSource:
        return cls(f"vectors:{channels}")

    @property
    def is_vectors(self) -> bool:
        return self.kind.startswith("vectors:")


def _luma(image: np.ndarray, name: str) -> np.ndarray:
    """Rec. 709 luma (h, w) float32 of (h, w, >=3), (h, w, 1) or (h, w); NaN -> 0, +-Inf -> 1 / 0."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3:
        if arr.shape[2] < 3:
            raise SpecError(f"{name} has {arr.shape[2]} channels; expected 1 or at least 3")
        gray = arr[..., :3].astype(np.float32) @ LUMA
    elif arr.ndim == 2:
        gray = arr.astype(np.float32)
    else:
        raise SpecError(f"{name} has shape {arr.shape}; expected (h, w) or (h, w, 3)")
    return np.nan_to_num(gray, nan=0.0, posinf=1.0, neginf=0.0)


def _quantise(gray: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(gray * 255.0), 0, 255).astype(np.uint8)


def to_gray8(image: np.ndarray, name: str) -> np.ndarray:
    """8-bit Rec. 709 luma of a display-referred [0, 1] image, (h, w, >=3), (h, w, 1) or (h, w).

    NaN becomes 0, +Inf 1 and -Inf 0; values are clipped to [0, 255] after rounding. ``name`` names
    the image in the `SpecError` raised for a wrong shape.
    """
    return _quantise(_luma(image, name))


#: Local contrast normalisation before DIS: Gaussian window in pixels (a smaller one amplified
#: fine texture and cost accuracy on small frames) and the contrast floor below which local detail
#: is not amplified (noise).
CONTRAST_SIGMA = 10.0
CONTRAST_FLOOR = 0.02


def flow_input(image: np.ndarray, name: str) -> np.ndarray:
    """The 8-bit image DIS sees: luma with its local mean removed and its local contrast normalised.

    DIS matches 8-bit patches, so a sky gradient or a dark corner that spans a few code values gives
    it almost nothing to track, and it fills such regions from their borders. Normalising the local
    contrast (a Gaussian window of 10 px) spreads every region's detail over the
    8-bit range. It is a filter of the content alone, so it moves with the content and keeps DIS's
    brightness-constancy assumption (a screen-fixed equalisation such as CLAHE breaks it: measured
    2x the end-point error on a textured pan). On the sample plate (960x540 and 480x270) this halves
    DIS's end-point error against the true vectors (0.98 -> 0.53 px and 0.50 -> 0.27 px); on
    well-textured frames it changes nothing measurable.
    """
    import cv2

    gray = _luma(image, name)
    detail = gray - cv2.GaussianBlur(gray, (0, 0), CONTRAST_SIGMA)
    spread = np.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), CONTRAST_SIGMA))
    return _quantise(0.5 + detail / (6.0 * (spread + CONTRAST_FLOOR)))


def estimate_flow(src: np.ndarray, dst: np.ndarray, *, preset: str = "medium") -> np.ndarray:
    """Dense flow from ``src`` to ``dst`` (see the module docstring), by OpenCV DIS.

    ``src`` and ``dst`` are display-referred [0, 1] images, (h, w, 3) or (h, w); DIS sees their
    `flow_input` (8-bit, contrast-normalised luma). The result is deterministic for given inputs
    (DIS has no random state).
    """
    code = _preset_code(preset)
    return _dis(flow_input(src, "flow source"), flow_input(dst, "flow destination"), code)


def estimate_flows(a: np.ndarray, b: np.ndarray, *, preset: str = "medium") -> tuple[np.ndarray, np.ndarray]:
    """``(estimate_flow(a, b), estimate_flow(b, a))``, preparing each image's `flow_input` once."""
    code = _preset_code(preset)
    a8, b8 = flow_input(a, "flow source"), flow_input(b, "flow destination")
    return _dis(a8, b8, code), _dis(b8, a8, code)


def _preset_code(preset: str) -> int:
    import cv2

    if preset not in PRESETS:
        raise SpecError(f"unknown flow preset {preset!r}; expected one of {', '.join(PRESETS)}")
    return {
        "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
        "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
        "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    }[preset]


def _dis(a: np.ndarray, b: np.ndarray, code: int) -> np.ndarray:
    import cv2

    if a.shape != b.shape:
        raise SpecError(f"flow frames differ in size: {a.shape[1]}x{a.shape[0]} vs {b.shape[1]}x{b.shape[0]}")
    dis = cv2.DISOpticalFlow_create(code)
    flow = dis.calc(a, b, None)
    return np.ascontiguousarray(flow, dtype=np.float32)


def warp(image: np.ndarray, flow: np.ndarray, *, border: str = "replicate") -> np.ndarray:
    """Backward warp: ``out[y, x] = image(x + flow[y, x, 0], y + flow[y, x, 1])``, bilinear.

    ``image`` is (h, w) or (h, w, c) float32 with any number of channels; ``flow`` is (h, w, 2) on the
    output grid. ``border`` says what is sampled outside ``image``: ``"replicate"`` (edge pixels),
    ``"constant"`` (zeros) or ``"reflect"``.
    """
    import cv2

    if border not in BORDERS:
        raise SpecError(f"unknown warp border {border!r}; expected one of {', '.join(BORDERS)}")
    img = np.asarray(image, dtype=np.float32)
    grid_x, grid_y = _targets(flow)
    h, w = grid_x.shape
    mode = {
        "replicate": cv2.BORDER_REPLICATE,
        "constant": cv2.BORDER_CONSTANT,
        "reflect": cv2.BORDER_REFLECT101,
    }[border]

    def remap(plane: np.ndarray) -> np.ndarray:
        return cv2.remap(
            np.ascontiguousarray(plane), grid_x, grid_y, cv2.INTER_LINEAR, borderMode=mode, borderValue=0
        )

    if img.ndim == 2:
        return remap(img)
    if img.ndim != 3:
        raise SpecError(f"image has shape {img.shape}; expected (h, w) or (h, w, c)")
    # cv2.remap takes at most 4 channels; go plane by plane beyond that.
    if img.shape[2] <= 4:
        out = remap(img)
        return out.reshape(h, w, img.shape[2])
    return np.stack([remap(img[..., c]) for c in range(img.shape[2])], axis=-1)


def revealed_mask(flow_fw: np.ndarray, flow_bw: np.ndarray) -> np.ndarray:
    """Pixels of frame t that frame s does not show: (h, w) bool, True = uncovered.

    Flows as in `occlusion_mask`. A pixel is uncovered when the round trip through s does not come
    back (``|F_f(x + F_b(x)) + F_b(x)|^2 > 0.01 (|F_f(x + F_b(x))|^2 + |F_b(x)|^2) + 0.5``, the
    forward-backward check of Ruder et al. 2016) or when its correspondence falls outside frame s.
    """
    fw = np.asarray(flow_fw, dtype=np.float32)
    bw = np.asarray(flow_bw, dtype=np.float32)
    if fw.shape != bw.shape or bw.ndim != 3 or bw.shape[2] != 2:
        raise SpecError(f"flows must both be (h, w, 2); got {fw.shape} and {bw.shape}")
    fw_at = warp(fw, bw, border="replicate")  # F_f sampled at x + F_b(x)
    round_trip = np.sum((fw_at + bw) ** 2, axis=-1)
    mag = np.sum(fw_at**2, axis=-1) + np.sum(bw**2, axis=-1)
    return (round_trip > 0.01 * mag + 0.5) | ~inside_mask(bw)


def inside_mask(flow: np.ndarray) -> np.ndarray:
    """Pixels whose correspondence ``x + flow(x)`` falls inside the destination frame; (h, w) bool.

    The destination has the size of ``flow``'s grid; a correspondence on the last row or column is
    inside, one beyond it is not. A NaN flow vector counts as inside (no comparison holds for it).
    """
    tx, ty = _targets(flow)
    h, w = tx.shape
    return ~((tx < 0) | (tx > w - 1) | (ty < 0) | (ty > h - 1))


def _targets(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (h, w) float32 x and y of ``x + flow(x)`` for every pixel of ``flow``'s grid."""
    fl = np.asarray(flow, dtype=np.float32)
    if fl.ndim != 3 or fl.shape[2] != 2:
        raise SpecError(f"flow has shape {fl.shape}; expected (h, w, 2)")
    h, w = fl.shape[:2]
    tx = np.arange(w, dtype=np.float32)[None, :] + fl[..., 0]
    ty = np.arange(h, dtype=np.float32)[:, None] + fl[..., 1]
    return tx, ty


def occlusion_mask(flow_fw: np.ndarray, flow_bw: np.ndarray) -> np.ndarray:
    """Pixels of frame t whose backward correspondence can be trusted; (h, w) bool, True = VALID.

    ``flow_bw`` is the flow of frame t towards another frame s (t -> s, on t's grid: it is the flow
    that warps s onto t) and ``flow_fw`` the flow of s towards t (s -> t, on s's grid). With
    s = t - 1 these are the backward and forward flows of Lai et al. (2018). A pixel is invalid when:

    - frame s does not show it (`revealed_mask`: the forward-backward check of Ruder et al. 2016,
      used by Lai et al., or a correspondence outside frame s);
    - it sits on a motion boundary of ``flow_bw`` (`motion_boundary`).
    """
    return ~(revealed_mask(flow_fw, flow_bw) | motion_boundary(flow_bw))


#: `motion_boundary`'s floor on the squared flow gradient (Ruder et al. 2016's 0.002), made for
#: exact motion vectors, which change only at layer edges.
VECTORS_BOUNDARY_FLOOR = 0.002


def motion_boundary(flow_bw: np.ndarray, floor: float = VECTORS_BOUNDARY_FLOOR) -> np.ndarray:
    """Pixels on a motion boundary of ``flow_bw``: ``|grad u|^2 + |grad v|^2 > 0.01 |F|^2 + floor``."""
    bw = np.asarray(flow_bw, dtype=np.float32)
    du_y, du_x = np.gradient(bw[..., 0])
    dv_y, dv_x = np.gradient(bw[..., 1])
    grad = du_x**2 + du_y**2 + dv_x**2 + dv_y**2
    return grad > 0.01 * np.sum(bw**2, axis=-1) + floor


def _find_channel(aovs: Mapping[str, np.ndarray], name: str) -> str | None:
    """The channel called ``name`` exactly, else one ending in ``.name`` (a layer prefix)."""
    if name in aovs:
        return name
    matches = sorted(key for key in aovs if key.endswith("." + name))
    return matches[0] if matches else None


def flow_from_vectors(
    aovs: Mapping[str, np.ndarray], direction: str, *, scale: float = 1.0, y_up: bool = True
) -> np.ndarray | None:
    """Motion vectors carried by the plate, as a flow in this module's convention; None if absent.

    ``direction`` is ``"forward"`` (frame t -> t+1) or ``"backward"`` (t -> t-1). Channels are
    looked up by name, with or without a layer prefix (``"RenderLayer.Vector.X"`` matches
    ``"Vector.X"``). ``scale`` multiplies the vectors (the proxy factor of `ModelFrame.scale`).

    - Nuke (``forward.u/forward.v``, ``backward.u/backward.v``): the displacement in pixels of the
      point at x in frame t towards where it is in t+1 (forward) or t-1 (backward). Nuke's y axis
      points up, so ``v`` is negated (``y_up=True``, the default; pass ``y_up=False`` for vectors
      written by a renderer in image space, y down).
    - Blender (``Vector.X/Y/Z/W``, Cycles and EEVEE): per Cycles' ``primitive_motion_vector``,
      ``(X, Y) = p_{t-1} - p_t`` (towards the previous frame) and ``(Z, W) = p_t - p_{t+1}`` (the
      *negated* motion towards the next frame), in raster pixels with y up (Blender's raster origin
      is the bottom-left corner; the EXR stores rows top first but leaves the values as they are).
      So backward flow = ``(X, -Y)`` and forward flow = ``(-Z, W)`` when ``y_up``.

    Nuke's channels win when both are present.
    """
    if direction not in DIRECTIONS:
        raise SpecError(f"unknown flow direction {direction!r}; expected 'forward' or 'backward'")
    found = _vector_channels(aovs, direction)
    if found is None:
        return None
    layout, first, second = found
    a = np.asarray(aovs[first], dtype=np.float32)
    b = np.asarray(aovs[second], dtype=np.float32)
    ysign = -1.0 if y_up else 1.0
    if layout == "nuke" or direction == "backward":
        flow = np.stack([a, ysign * b], axis=-1)
    else:  # Blender's (Z, W) is the negated motion towards the next frame
        flow = np.stack([-a, -ysign * b], axis=-1)
    flow = np.nan_to_num(flow, nan=0.0, posinf=0.0, neginf=0.0) * np.float32(scale)
    return np.ascontiguousarray(flow, dtype=np.float32)


def vectors_source(aovs: Mapping[str, np.ndarray], direction: str) -> FlowSource | None:
    """The `FlowSource` that `flow_from_vectors` would use for ``aovs``, or None when absent."""
    found = _vector_channels(aovs, direction)
    if found is None:
        return None
    return FlowSource.vectors(f"{direction}.u/v" if found[0] == "nuke" else "Vector")


def _vector_channels(aovs: Mapping[str, np.ndarray], direction: str) -> tuple[str, str, str] | None:
    """``(layout, first, second)``: the two channels holding ``direction``'s vectors, or None.

    ``layout`` is ``"nuke"`` (``<direction>.u``, ``<direction>.v``), which wins when present, else
    ``"blender"`` (``Vector.X``, ``Vector.Y`` backward; ``Vector.Z``, ``Vector.W`` forward).
    """
    u_name = _find_channel(aovs, f"{direction}.u")
    v_name = _find_channel(aovs, f"{direction}.v")
    if u_name is not None and v_name is not None:
        return "nuke", u_name, v_name
    comps = ("X", "Y") if direction == "backward" else ("Z", "W")
    first, second = (_find_channel(aovs, f"Vector.{c}") for c in comps)
    if first is None or second is None:
        return None
    return "blender", first, second


def nearest_source(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (ys, xs) pixel of the other frame nearest to where ``flow`` points, clipped to the frame."""
    h, w = flow.shape[:2]
    xs = np.clip(np.rint(np.arange(w, dtype=np.float32)[None, :] + flow[..., 0]), 0, w - 1).astype(np.int64)
    ys = np.clip(np.rint(np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]), 0, h - 1).astype(np.int64)
    return ys, xs


def _bilinear(field: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`warp` of a position field (edges replicated) in full float precision.

    OpenCV's bilinear remap quantizes its weights to 1/32 px: a position field carried frame after
    frame at 0.3 px a frame would drift by 0.0125 px a frame, 0.3 px over 24 frames. Its
    nearest-neighbour remap is exact, so it fetches the four neighbours and the weights are
    applied here."""
    import cv2

    flow = np.asarray(flow, dtype=np.float32)  # OpenCV's remap takes float32 maps only
    h, w = flow.shape[:2]
    if h < 2 or w < 2:
        return warp(field, flow)
    x = np.clip(np.arange(w, dtype=np.float32)[None, :] + flow[..., 0], 0, w - 1)
    y = np.clip(np.arange(h, dtype=np.float32)[:, None] + flow[..., 1], 0, h - 1)
    x0 = np.minimum(np.floor(x), np.float32(w - 2))
    y0 = np.minimum(np.floor(y), np.float32(h - 2))
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]
    src = np.ascontiguousarray(field, dtype=np.float32)

    def at(dx: int, dy: int) -> np.ndarray:
        out = cv2.remap(src, x0 + np.float32(dx), y0 + np.float32(dy), cv2.INTER_NEAREST)
        return out.reshape(src.shape)

    top = at(0, 0)
    top += (at(1, 0) - top) * fx
    bottom = at(0, 1)
    bottom += (at(1, 1) - bottom) * fx
    return (top + (bottom - top) * fy).astype(np.float32)


def _offset_from_nearest(flow: np.ndarray, nearest: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """(h, w, 2) where ``flow`` points, less the pixel `nearest_source` took (within half a pixel).

    A field torn at a pixel (a layer's edge, or a seam between two copied patches) is continued
    from the nearest pixel by translation: that pixel's position plus this offset. Without it
    every carry would round the motion to whole pixels there, and a patch copied into unseen
    background would walk off its surface by up to half a pixel a frame."""
    h, w = flow.shape[:2]
    ys, xs = nearest
    out = np.empty((h, w, 2), np.float32)
    out[..., 0] = np.arange(w, dtype=np.float32)[None, :] + flow[..., 0] - xs
    out[..., 1] = np.arange(h, dtype=np.float32)[:, None] + flow[..., 1] - ys
    return np.clip(out, -0.5, 0.5, out=out)


def carry_positions(
    positions: np.ndarray, flow: np.ndarray, nearest: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """A field of positions (h, w, 2) (keyframe coordinates, say) carried along ``flow`` (this
    frame -> the frame the field is on): bilinear inside a surface, nearest (``nearest`` is
    `nearest_source(flow)`) across a motion boundary, where interpolating the positions of two
    layers would name a point on neither."""
    if nearest is None:
        nearest = nearest_source(flow)
    smooth = _bilinear(positions, flow)
    near = positions[nearest]
    near += _offset_from_nearest(flow, nearest)
    torn = np.abs(smooth - near).max(axis=-1) > 0.75
    smooth[torn] = near[torn]
    return np.ascontiguousarray(smooth, dtype=np.float32)


#: Neighbours a fill step looks at: the 4-neighbourhood first, so straight continuations win ties.
_OFFSETS = ((0, -1), (0, 1), (-1, 0), (1, 0), (-1, -1), (-1, 1), (1, -1), (1, 1))
#: How far (in pixels of the flow) a neighbour's motion may differ and still count as the same layer;
#: looser tolerances are tried, in order, for pixels the strict ones leave unfilled.
LAYER_TOLERANCES = (0.5, 1.5)
MAX_STEPS = 64


def fill_from_layer(
    fields: list[np.ndarray], holes: np.ndarray, motion: np.ndarray, *, smooth: bool = False
) -> list[np.ndarray]:
    """Fill ``holes`` of position fields from visible neighbours of the same layer.

    ``fields`` are (h, w, 2) arrays of source positions (x, y) per pixel (keyframe coordinates,
    correspondence fields); ``motion`` (h, w, 2) is each pixel's flow, the test of "same layer".
    A hole takes its neighbour's position plus the offset between the two pixels, growing inward
    from the visible side one pixel per step; the order of fills is fixed, so the result is
    deterministic. Holes no neighbour of the same layer reaches keep their values. Returns new
    arrays (the inputs are not changed).

    ``smooth=True`` says the fields vary smoothly over a layer (keyframe coordinates do; a
    correspondence field made of patch copies does not): the offset is then mapped through the
    field's local gradient on the visible side (`layer_gradient`), carried inward with the fill,
    so a layer that rotated or zoomed since the keyframe is continued as it moved, not as if it had
    only slid (at 100 px from the visible edge, a 10 % push-in is otherwise 10 px off)."""
    h, w = holes.shape
    out = [np.array(f, copy=True) for f in fields]
    done = ~holes
    ys, xs = np.nonzero(holes)
    if ys.size == 0:
        return out
    grads = [layer_gradient(f, done, motion) if smooth else None for f in out]
    for tolerance in LAYER_TOLERANCES:
        for _ in range(MAX_STEPS):
            if ys.size == 0:
                return out
            best = np.full(ys.shape, np.inf, np.float32)
            pick_y = np.zeros_like(ys)
            pick_x = np.zeros_like(xs)
            own = motion[ys, xs]
            for dy, dx in _OFFSETS:
                ny, nx = ys + dy, xs + dx
                inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
                ny_c, nx_c = np.clip(ny, 0, h - 1), np.clip(nx, 0, w - 1)
                diff = np.abs(motion[ny_c, nx_c] - own).max(axis=-1)
                better = inside & done[ny_c, nx_c] & (diff <= tolerance) & (diff < best)
                best = np.where(better, diff, best)
                pick_y = np.where(better, ny_c, pick_y)
                pick_x = np.where(better, nx_c, pick_x)
            filled = np.isfinite(best)
            if not filled.any():
                break
            fy, fx = ys[filled], xs[filled]
            sy, sx = pick_y[filled], pick_x[filled]
            step_x = (fx - sx).astype(np.float32)[:, None]
            step_y = (fy - sy).astype(np.float32)[:, None]
            for arr, grad in zip(out, grads, strict=True):
                if grad is None:
                    arr[fy, fx] = arr[sy, sx] + np.concatenate([step_x, step_y], axis=1).astype(arr.dtype)
                else:
                    gx, gy = grad
                    arr[fy, fx] = arr[sy, sx] + (gx[sy, sx] * step_x + gy[sy, sx] * step_y).astype(arr.dtype)
                    gx[fy, fx], gy[fy, fx] = gx[sy, sx], gy[sy, sx]
            done[fy, fx] = True
            ys, xs = ys[~filled], xs[~filled]
    return out


#: Half-side (px) of the window a field's gradient is averaged over (`layer_gradient`).
GRADIENT_REACH = 3
#: Largest gradient entry kept: a layer seen at a quarter of its keyframe size or four times it.
GRADIENT_LIMIT = 4.0


def layer_gradient(field: np.ndarray, known: np.ndarray, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The local gradient of a smooth (h, w, 2) field along x and along y: two (h, w, 2) arrays.

    Differences are taken between ``known`` neighbours of the same layer (flows within the
    strictest `LAYER_TOLERANCES`) and averaged over a window of ``2 * GRADIENT_REACH + 1`` pixels,
    so one torn pixel does not steer a whole fill; where no such pair is near, the gradient is the
    identity's ((1, 0) along x, (0, 1) along y)."""
    import cv2

    f = np.asarray(field, np.float32)
    mo = np.asarray(motion, np.float32)
    tol = LAYER_TOLERANCES[0]
    size = (2 * GRADIENT_REACH + 1, 2 * GRADIENT_REACH + 1)
    result = []
    for axis, unit in ((1, (1.0, 0.0)), (0, (0.0, 1.0))):
        a = [slice(None), slice(None)]
        b = [slice(None), slice(None)]
        a[axis], b[axis] = slice(1, None), slice(None, -1)
        a, b = tuple(a), tuple(b)
        pair = known[a] & known[b] & (np.abs(mo[a] - mo[b]).max(axis=-1) <= tol)
        diff = np.where(pair[..., None], f[a] - f[b], 0.0).astype(np.float32)
        total = np.zeros(f.shape, np.float32)
        count = np.zeros(f.shape[:2], np.float32)
        total[b] += diff  # each difference counts for both of its pixels
        total[a] += diff
        count[b] += pair
        count[a] += pair
        total = cv2.boxFilter(total, -1, size, normalize=False, borderType=cv2.BORDER_CONSTANT)
        count = cv2.boxFilter(count, -1, size, normalize=False, borderType=cv2.BORDER_CONSTANT)
        grad = np.empty(f.shape, np.float32)
        grad[...] = unit
        seen = count > 0.5
        grad[seen] = total[seen] / count[seen][:, None]
        result.append(np.clip(grad, -GRADIENT_LIMIT, GRADIENT_LIMIT))
    return result[0], result[1]


#: A flow that differs by more than this (pixels) between neighbouring pixels is the edge between
#: two layers (a rotating or zooming layer varies smoothly, by far less).
LAYER_JUMP = 1.0


def layer_edges(flow: np.ndarray, jump: float = LAYER_JUMP) -> np.ndarray:
    """Pixels where the flow jumps by more than ``jump`` pixels between neighbours: the edges
    between layers that move apart (an object's silhouette against what is behind it)."""
    fl = np.asarray(flow, dtype=np.float32)
    edges = np.zeros(fl.shape[:2], bool)
    dx = np.abs(fl[:, 1:] - fl[:, :-1]).max(axis=-1) > jump
    dy = np.abs(fl[1:, :] - fl[:-1, :]).max(axis=-1) > jump
    edges[:, 1:] |= dx
    edges[:, :-1] |= dx
    edges[1:, :] |= dy
    edges[:-1, :] |= dy
    return edges


def outline_reach(height: int, width: int) -> int:
    """How far (pixels) paint drawn along an object's edge reaches from it: an outline a few
    pixels wide, 3 at 540 lines and in proportion to the picture, at least 2."""
    return max(2, round(min(height, width) / 180))


def dilate_mask(mask: np.ndarray, reach: int) -> np.ndarray:
    """``mask`` grown by a disc of radius ``reach`` pixels."""
    import cv2

    if reach <= 0:
        return np.asarray(mask, bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    return cv2.dilate(np.asarray(mask, np.uint8), kernel) > 0


def outline_band(flow_bw: np.ndarray, flow_fw: np.ndarray, reach: int) -> np.ndarray:
    """Pixels of frame t within ``reach`` of a layer edge in frame t or, carried here by the
    motion, in the frame before (``flow_bw``: t -> t-1 on t's grid; ``flow_fw``: t-1 -> t on t-1's
    grid). An outline travels with the object whose edge it follows; the background it leaves
    behind changes paint as it should, so neither layer's motion judges this band."""
    now = dilate_mask(layer_edges(flow_bw), reach)
    before = warp(dilate_mask(layer_edges(flow_fw), reach).astype(np.float32), flow_bw) > 0.0
    return now | before

"""The invented-structure measure on plates whose right answer is known (`tests/moving_object.py`).

A dark-outlined disc slides fast over a flat and over a textured background. The ideal carried
painting (each layer's paint moved with its own motion) and the filter painted afresh on every
frame invent nothing; a wake of ink lines, a wake with the disc's colour cast, and the disc's
paint smeared over what it uncovered all do. The measure must tell them apart before QC gates on it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moving_object import Scene

from stylelock.core.errors import SpecError
from stylelock.core.metrics import InventedStructure, has_fine_texture, texture_ratio
from stylelock.core.metrics.invented import joint_descriptor


def measure(scene: Scene, outputs: list[np.ndarray], keys: tuple[int, ...] = (0,), paints=None) -> list:
    paints = paints or {}
    measure = InventedStructure([(k, scene.plate(k), paints.get(k, scene.paint(k))) for k in keys])
    results = []
    for t, out in enumerate(outputs):
        result, _ = measure.add(t, scene.plate(t), out, scene.flows(t) if t else None)
        results.append(result)
    return results


def worst(results: list) -> float:
    return max(r.fraction for r in results if r.fraction is not None)


@pytest.fixture(scope="module", params=[False, True], ids=["flat", "textured"])
def scene(request: pytest.FixtureRequest) -> Scene:
    return Scene(textured=request.param, speed=6.0, frames=14, width=200)


def test_carried_paint_and_paint_on_every_frame_invent_nothing(scene: Scene) -> None:
    carried = measure(scene, scene.carried())
    assert carried[0].keyframe == 0 and carried[0].fraction < 0.001
    assert worst(carried) < 0.002  # under 0.2 % of the frame on every frame
    assert carried[-1].uncovered_fraction > 0.03  # the disc has uncovered background to judge
    if not scene.textured:  # painted afresh, a flat background comes back the same
        assert worst(measure(scene, scene.painted_every_frame())) < 0.002


@pytest.mark.parametrize("defect", ["wake", "tinted wake", "smear"])
def test_a_wake_or_a_smear_is_invented(scene: Scene, defect: str) -> None:
    outputs = {"wake": scene.wake, "tinted wake": lambda: scene.wake(tint=0.35), "smear": scene.smear}[
        defect
    ]()
    results = measure(scene, outputs)
    ideal = worst(measure(scene, scene.carried()))
    assert worst(results) > 0.02 and worst(results) > 10 * max(ideal, 0.001)
    # it grows with the wake: the last frames are the worst
    fractions = [r.fraction for r in results]
    assert max(fractions[-3:]) == max(fractions)


def test_a_keyframe_that_paints_it_justifies_it() -> None:
    """Paint another keyframe holds over such plate is not invented (several keyframes)."""
    scene = Scene(speed=6.0, frames=14, width=200)
    tinted = scene.wake(tint=0.35)
    alone = measure(scene, tinted)
    both = measure(scene, tinted, keys=(0, 13), paints={13: tinted[13]})
    assert worst(alone) > 0.05
    assert max(r.fraction for r in both[:13]) < 0.2 * max(r.fraction for r in alone[:13])
    assert both[13].fraction == 0.0 and both[13].keyframe == 13


def test_frames_it_cannot_follow_back_are_not_measured() -> None:
    scene = Scene(frames=6)
    m = InventedStructure([(3, scene.plate(3), scene.paint(3))])
    first, mask = m.add(2, scene.plate(2), scene.paint(2), None)  # before the keyframe
    assert first.fraction is None and mask is None
    key, _ = m.add(3, scene.plate(3), scene.plate(3), scene.flows(3))  # the plate is not the paint
    assert key.fraction > 0.5
    after, _ = m.add(4, scene.plate(4), scene.paint(4), scene.flows(4))
    assert after.fraction is not None
    broken, _ = m.add(5, scene.plate(5), scene.paint(5), None)  # no motion: the chain is cut
    assert broken.fraction is None


def test_the_measure_is_deterministic_and_checks_sizes() -> None:
    scene = Scene(speed=6.0, frames=8, width=160)
    keys = (0, 7)
    first = measure(scene, scene.wake(tint=0.35), keys=keys)
    second = measure(scene, scene.wake(tint=0.35), keys=keys)
    assert [r.to_dict() for r in first] == [r.to_dict() for r in second]
    m = InventedStructure([(0, scene.plate(0), scene.paint(0))])
    with pytest.raises(SpecError):
        m.add(1, scene.plate(1)[:-1], scene.paint(1)[:-1], None)
    with pytest.raises(SpecError):
        InventedStructure([])


# -- carried fine texture ------------------------------------------------------------------------
def carried_texture(results: list) -> list[float]:
    return [r.texture_ratio for r in results[1:]]


def test_carried_texture_keeps_one_for_a_copy_and_falls_for_a_blur() -> None:
    """A painting moved by whole pixels keeps all its texture; a sub-pixel Lanczos move most of
    it; a 0.7 px blur of the same under half: known answers before QC gates on the figure."""
    whole = Scene(speed=6.0, pan=1.0, frames=10, width=200)
    copied = carried_texture(measure(whole, whole.carried()))
    assert all(abs(r - 1.0) < 0.05 for r in copied), copied
    scene = Scene(speed=6.0, frames=10, width=200)  # pans 0.4 px a frame: resampled every frame
    resampled = carried_texture(measure(scene, scene.carried()))
    assert min(resampled) > 0.85, resampled
    soft = [cv2.GaussianBlur(f, (0, 0), 0.7) for f in scene.carried()]
    blurred_results = measure(scene, soft)
    blurred = carried_texture(blurred_results)
    assert max(blurred) < 0.6, blurred
    # the reference beside it, the keyframe's paint carried by the motion alone, does not depend
    # on the output: it keeps what the ideal carry keeps, whatever the engine did
    reference = [r.carried_paint_texture_ratio for r in blurred_results[1:]]
    assert all(abs(a - b) < 0.05 for a, b in zip(reference, resampled, strict=True)), (reference, resampled)
    assert all(r.carried_paint_texture_ratio == 1.0 for r in blurred_results[:1])


def test_carried_texture_is_not_moved_by_texture_leaving_the_frame() -> None:
    """The disc (ink outline, brush texture) leaves the frame: the whole-frame ratio of a perfect
    carry falls with it, the carried ratio stays where the copy is."""
    scene = Scene(speed=14.0, pan=1.0, frames=12, width=200)
    carried = scene.carried()
    results = measure(scene, carried)
    key = scene.paint(0)
    whole = [texture_ratio(f, key) for f in carried[1:]]
    assert min(whole) < 0.85  # the whole-frame figure would fail a perfect carry
    assert all(abs(r - 1.0) < 0.05 for r in carried_texture(results)), carried_texture(results)


def test_flat_paint_has_no_carried_texture_figure() -> None:
    scene = Scene(frames=3)
    flat = np.full((scene.height, scene.width, 3), 0.5, np.float32)
    m = InventedStructure([(0, scene.plate(0), flat)])
    assert m.add(0, scene.plate(0), flat, None)[0].texture_ratio is None
    assert m.add(1, scene.plate(1), flat, scene.flows(1))[0].texture_ratio is None
    assert not has_fine_texture(flat) and has_fine_texture(scene.paint(0))


#: The keyframe-search cases below: a 160 px frame, a red surface's plate and the red painted over it.
SIZE = 160
RED_PLATE = (0.9, 0.15, 0.2)
RED_PAINT = (0.8, 0.1, 0.1)
INK = (0.02, 0.02, 0.02)


def flat(colour: tuple[float, float, float]) -> np.ndarray:
    return np.broadcast_to(np.float32(colour), (SIZE, SIZE, 3)).copy()


def middle() -> np.ndarray:
    """The pixels asked about: the middle of the frame, far from anything the keyframe shows."""
    mask = np.zeros((SIZE, SIZE), bool)
    mask[40:120, 40:120] = True
    return mask


def corner_images(corner: int, paint: tuple[float, float, float], ink: int = 0) -> tuple[np.ndarray, ...]:
    """(plate, paint) of a keyframe that shows a red surface only in its top-left ``corner`` (px;
    0: none) over grey, painted ``paint``, with a band of black ink ``ink`` px wide along the
    corner's edges (as an artist outlines a surface)."""
    plate, paint_image = flat((0.5, 0.5, 0.5)), flat((0.6, 0.6, 0.6))
    plate[:corner, :corner] = RED_PLATE
    paint_image[:corner, :corner] = INK
    paint_image[: corner - ink, : corner - ink] = paint
    return plate, paint_image


def corner_keyframe(corner: int, paint: tuple[float, float, float], ink: int = 0) -> InventedStructure:
    """The measure with `corner_images` as its only keyframe."""
    return InventedStructure([(0, *corner_images(corner, paint, ink))])


def explained(
    m: InventedStructure, plate: np.ndarray, output: np.ndarray, mask: np.ndarray, **kw
) -> np.ndarray:
    return m._explained(joint_descriptor(plate, output), mask, **kw)


def test_a_paint_only_a_corner_of_a_keyframe_shows_explains_it() -> None:
    """The explanation is searched exhaustively: a (plate, paint) pair that only a small patch of
    the keyframe holds (here 1 % of it, as a paint-over that shows a few corners of a surface)
    explains every pixel that matches it, and paint no keyframe pixel holds explains none."""
    m, here, mask = corner_keyframe(16, RED_PAINT), flat(RED_PLATE), middle()
    assert explained(m, here, flat(RED_PAINT), mask, exclude=None)[mask].all()
    assert not explained(m, here, flat((0.1, 0.1, 0.8)), mask, exclude=None).any()
    # the keyframe excluded, nothing explains it
    assert not explained(m, here, flat(RED_PAINT), mask, exclude=0).any()


def test_ink_along_an_outline_does_not_explain_a_surface_filled_with_ink() -> None:
    """The explanation weighs the neighbourhood: the keyframe's ink over red plate is an outline,
    so a whole red surface later filled with that ink (what a wake or a smeared outline leaves) is
    invented, while the same surface filled with the red the artist painted inside is explained."""
    m, here, mask = corner_keyframe(40, RED_PAINT, ink=8), flat(RED_PLATE), middle()
    assert not explained(m, here, flat(INK), mask, exclude=None).any()
    assert explained(m, here, flat(RED_PAINT), mask, exclude=None)[mask].all()


def test_without_the_neighbourhood_the_ink_would_explain_the_filled_surface(monkeypatch) -> None:
    """The case above is one the neighbourhood decides: the pixel-scale part of the descriptor alone
    finds the thick ink over flat red plate a precedent for a surface filled with ink."""
    import stylelock.core.metrics.invented as invented

    full = invented.descriptor
    monkeypatch.setattr(invented, "descriptor", lambda image: np.ascontiguousarray(full(image)[..., :9]))
    m, here, mask = corner_keyframe(40, RED_PAINT, ink=8), flat(RED_PLATE), middle()
    assert explained(m, here, flat(INK), mask, exclude=None)[mask].all()


def test_another_keyframe_explains_what_the_excluded_one_cannot() -> None:
    """With several keyframes each is searched on its own: excluding the one that holds the
    precedent leaves the others, and asking again with none excluded finds it in every keyframe
    that holds it."""
    red_corner, grey = corner_images(16, RED_PAINT), corner_images(0, RED_PAINT)
    m = InventedStructure([(0, *red_corner), (1, *grey), (2, *red_corner)])
    here, mask, red = flat(RED_PLATE), middle(), flat(RED_PAINT)
    assert explained(m, here, red, mask, exclude=0)[mask].all()  # keyframe 2 holds it too
    only_first = InventedStructure([(0, *red_corner), (1, *grey)])
    assert not explained(only_first, here, red, mask, exclude=0).any()
    assert explained(only_first, here, red, mask, exclude=1)[mask].all()
    assert explained(only_first, here, red, mask, exclude=None)[mask].all()


def test_unmeasurable_output_is_not_explained() -> None:
    """NaN paint has no precedent: those pixels (and those whose descriptor's neighbourhood reaches
    them) are not explained, and the search does not fail; pixels well away still are."""
    m, here, mask = corner_keyframe(16, RED_PAINT), flat(RED_PLATE), middle()
    output = flat(RED_PAINT)
    output[60:70, 60:70] = np.nan
    found = explained(m, here, output, mask, exclude=None)
    assert not found[60:70, 60:70].any()
    assert found[100:120, 100:120].all()

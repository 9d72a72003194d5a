"""A carried track settles with age (`synth.track_factor`, `synth._continue_track`).

Known answer: every target pixel is offered the same two sources, a searched patch with error E
and its carried track with error 2.2 E. A young track (factor 1.5, 2.0 after one frame) loses to
the search; a track that has held for two frames (factor 2.5) stays; an untrusted track (the plate
changed in a way the motion does not explain) loses whatever its age.
"""

from __future__ import annotations

import numpy as np
import pytest

from stylelock.server.engines.keyframe.backend import make_backend
from stylelock.server.engines.keyframe.synth import (
    TRACK_FACTOR,
    TRACK_FACTOR_SETTLED,
    SourceLevel,
    SynthResult,
    _continue_track,
    track_factor,
)

P, R = 5, 2
H, W = 8, 8
SEARCHED, TRACKED = 100.0, 100.0 * np.sqrt(2.2)  # per-channel distance to the target (0..255 units)


def _level(backend) -> SourceLevel:
    """A 24 x 24 source: its left half is the searched patch's paint, its right half the track's."""
    src = np.zeros((24, 24, 1), np.float32)
    src[:, :12] = SEARCHED
    src[:, 12:] = TRACKED
    style = np.zeros((24, 24, 3), np.float32)
    return SourceLevel(
        src=backend.pad(backend.asarray(src), R), style=backend.pad(backend.asarray(style), R), w=24, h=24
    )


def _decide(age: np.ndarray | None, trust: np.ndarray | None) -> np.ndarray:
    b = make_backend("cpu")
    level = _level(b)
    tgt = b.pad(b.asarray(np.zeros((H, W, 1), np.float32)), R)
    nnf = np.zeros((H, W, 2), np.int32)
    nnf[..., 0], nnf[..., 1] = 5, 6  # the search's best: inside the left half
    track = np.zeros((H, W, 2), np.float32)
    track[..., 0], track[..., 1] = 17.4, 6.3  # the carried track: inside the right half
    searched = SynthResult(nnf=nnf, error=np.zeros((H, W), np.float32), style=np.zeros((H, W, 3), np.float32))
    out = _continue_track(b, searched, tgt, level, b.asarray(nnf), track, trust, P, age=age)
    np.testing.assert_allclose(
        out.error, np.where(out.exact, P * P * TRACKED**2, P * P * SEARCHED**2), rtol=1e-4
    )
    np.testing.assert_array_equal(out.field[out.exact], track[out.exact])
    return out.exact


def test_a_settled_track_outlasts_a_better_new_patch_a_young_one_does_not() -> None:
    age = np.repeat(np.float32([0, 1, 2, 3, 5, 9, 0, 2]), W).reshape(H, W)
    kept = _decide(age, np.ones((H, W), bool))
    assert not kept[age < 2].any()
    assert kept[age >= 2].all()


def test_an_untrusted_track_is_replaced_whatever_its_age() -> None:
    age = np.full((H, W), 9.0, np.float32)
    trust = np.ones((H, W), bool)
    trust[:, :3] = False
    kept = _decide(age, trust)
    assert kept[trust].all() and not kept[~trust].any()


def test_without_ages_every_track_is_judged_as_young() -> None:
    assert not _decide(None, None).any()


@pytest.mark.parametrize(
    ("age", "factor"), [(0, TRACK_FACTOR), (1, 2.0), (2, TRACK_FACTOR_SETTLED), (40, 2.5)]
)
def test_track_factor_grows_with_age_to_its_settled_value(age: int, factor: float) -> None:
    assert float(track_factor(np.float32(age))) == pytest.approx(factor)


def test_synthesize_hands_the_track_ages_to_the_decision() -> None:
    """The same choice through `synthesize` itself: its search finds the better half of the source,
    and only tracks with an age keep the worse one."""
    from stylelock.server.engines.keyframe.synth import Schedule, build_source, synthesize

    b = make_backend("cpu")
    guides = np.zeros((24, 24, 1), np.float32)
    guides[:, :12], guides[:, 12:] = SEARCHED, TRACKED
    source = build_source(b, guides, np.zeros((24, 24, 3), np.float32), 0.0, 1, P)
    track = np.zeros((H, W, 2), np.float32)
    track[..., 0], track[..., 1] = 17.4, 6.3

    def kept(age: float) -> np.ndarray:
        result = synthesize(
            b, source, np.zeros((H, W, 1), np.float32), Schedule(levels=1), 7, style_scale=0.0,
            track=track, track_trust=np.ones((H, W), bool), track_age=np.full((H, W), age, np.float32),
        )  # fmt: skip
        assert result is not None and result.exact is not None
        return result.exact

    assert not kept(0.0).any()
    assert kept(3.0).all()

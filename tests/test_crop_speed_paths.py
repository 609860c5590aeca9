"""The crop generator's fast paths (thumbnails read in place by `Image.reduce`, one render per distinct
window, `reduce` for power-of-two area resamples) against the plain paths they replace."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spatial_ssrl.scenes.loaders import load_scene
from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks import crop, generate, render_spec
from spatial_ssrl.tasks._common import closest_pair, medoid

ASSETS = Path(__file__).resolve().parents[1] / "assets"
KINDS = (crop.ANSWER,) + crop.DISTRACTOR_KINDS


@pytest.fixture(scope="module")
def scenes():
    return {name: load_scene(ASSETS / f"{name}.png") for name in ("room", "astronaut", "coffee")}


def textured(height, width, seed=0):
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), np.uint8)
    image = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)[:height, :width]
    return np.clip(image.astype(int) + rng.integers(-20, 21, image.shape), 0, 255).astype(np.uint8)


def direct_thumbnail(rgb, window):
    """The plain path: cut the window out, BOX-resize it to 32x32 (`render_option(..., 32, 32)`)."""
    x, y, side = window
    cut = Image.fromarray(np.ascontiguousarray(rgb[y:y + side, x:x + side]))
    return np.asarray(cut.resize((32, 32), Image.Resampling.BOX), np.float32)


def random_windows(scene, sides, count, seed=0):
    rng = np.random.default_rng(seed)
    for side in sides:
        for _ in range(count):
            yield [int(rng.integers(scene.width - side + 1)), int(rng.integers(scene.height - side + 1)), side]


def test_reduced_thumbnail_is_within_a_level_of_the_box_thumbnail(scenes):
    for scene in scenes.values():
        image = crop._scene_image(scene)
        limit = min(scene.width, scene.height)
        sides = [side for side in (32, 64, 96, 192, 256, 384, 576, 768) if side <= limit]
        differences = []
        for window in random_windows(scene, sides, 25):
            fast, plain = crop.window_thumbnail(image, window), direct_thumbnail(scene.rgb, window)
            assert fast.shape == (32, 32, 3) and fast.dtype == np.float32
            assert np.abs(fast - plain).max() <= 1, (scene.name, window)
            differences.append(np.abs(fast - plain).mean())
        assert np.mean(differences) < 0.35


def test_thumbnail_of_a_side_not_a_multiple_of_32_is_the_box_thumbnail(scenes):
    scene = scenes["coffee"]
    image = crop._scene_image(scene)
    for window in random_windows(scene, (16, 100, 200, 250, 300, 333, 400), 10):
        assert np.array_equal(crop.window_thumbnail(image, window), direct_thumbnail(scene.rgb, window))


def test_option_thumbnails_follow_render_option(scenes):
    """Each option's thumbnail is its window's, turned like the option: the answer's for the rotations."""
    for scene in scenes.values():
        side = min(scene.width, scene.height) // 2
        for box in random_windows(scene, [side], 10, seed=1):
            thumbs = crop.option_thumbnails(scene, box, list(KINDS))
            for kind, thumb in zip(KINDS, thumbs):
                plain = crop.render_option(scene.rgb, kind, box, 32, 32).astype(np.float32)
                if crop.source_window(kind, box, (scene.width, scene.height))[2] % 32:
                    assert np.array_equal(thumb, plain), kind
                else:
                    assert np.abs(thumb - plain).max() <= 1, kind
            answer = thumbs[0]
            assert np.array_equal(thumbs[1], np.rot90(answer, -1)) and np.array_equal(thumbs[2], np.rot90(answer, 1))


def test_closest_and_medoid_equal_the_shared_helpers():
    rng = np.random.default_rng(3)
    for trial in range(200):
        thumbs = [rng.integers(0, 256, (32, 32, 3), np.uint8) for _ in range(4)]
        if trial % 3 == 0:
            thumbs[2] = thumbs[0].copy()  # ties: the helpers' tie-breaking must be kept
        if trial % 5 == 0:
            thumbs = [thumbs[0]] * 4
        if trial % 7 == 0:
            thumbs[1] = np.clip(thumbs[3].astype(int) + 1, 0, 255).astype(np.uint8)
        fast = crop.closest_and_medoid([thumb.astype(np.float32) for thumb in thumbs])
        assert fast == (closest_pair(thumbs)[0], medoid(thumbs))


def test_reduce_probe_accepts_powers_of_two_and_catches_rounding_differences():
    assert all(crop._reduce_matches_box(factor) for factor in (2, 4, 8))
    assert not crop._reduce_matches_box(1)
    assert not crop._reduce_matches_box(3)  # Pillow's reduce by 3 rounds some block means differently


@pytest.mark.parametrize("factor", [1, 2, 3, 4, 8, 1.5, 2.4])
def test_window_render_is_the_cut_out_render(factor):
    rgb = textured(700, 900, seed=int(factor * 10))
    image = Image.fromarray(rgb)
    rng = np.random.default_rng(5)
    for detail in (40, 64, 75):
        wside = int(round(detail * factor))
        for _ in range(5):
            x, y = int(rng.integers(900 - wside + 1)), int(rng.integers(700 - wside + 1))
            for side in (detail, 2 * detail, detail * 3 // 2):
                cut = Image.fromarray(np.ascontiguousarray(rgb[y:y + wside, x:x + wside]))
                if wside != detail:
                    cut = cut.resize((detail, detail), Image.Resampling.BOX)
                expected = cut.resize((side, side), Image.Resampling.BICUBIC) if side != detail else cut
                fast = crop._render_window(image, (x, y, wside), detail, side)
                assert fast.size == (side, side) and fast.tobytes() == expected.tobytes()


@pytest.mark.parametrize("controls", [{}, {"option_detail": 0.25}, {"option_detail": 0.3}, {"option_detail": 1.0},
                                      {"size_fraction": 0.2}, {"size_fraction": 0.6, "option_detail": 0.75}])
def test_render_equals_render_option_for_every_option(scenes, controls):
    for scene in (scenes["astronaut"], scenes["coffee"], Scene(textured(240, 320, seed=2))):
        for seed in range(6):
            task = generate(scene, "crop", seed, controls)
            assert task.ok, task.reason
            for option, kind in zip(task.images[1:], task.spec["option_kinds"].values()):
                expected = crop.render_option(scene.rgb, kind, task.spec["box"], task.spec["detail"])
                assert np.array_equal(np.asarray(option), expected), (seed, kind)
            assert len({id(image) for image in task.images}) == 5


def test_options_sharing_a_window_are_separate_images():
    scene = Scene(textured(200, 200, seed=4))
    spec = {"box": [30, 30, 140], "detail": 70,
            "option_kinds": {"A": "answer", "B": "exterior_0.25", "C": "exterior_0.5", "D": "zoom_in"}}
    images = crop.render(scene, spec).images
    assert images[2].tobytes() == images[3].tobytes()  # both exteriors clipped to the whole image
    assert images[2] is not images[3]


def test_generation_is_deterministic_and_replays(scenes):
    first_scene = load_scene(ASSETS / "astronaut.png")
    for seed in range(8):
        generate(first_scene, "crop", seed + 100)  # warm the per-scene cache with other tasks first
        a = generate(first_scene, "crop", seed)
        b = generate(load_scene(ASSETS / "astronaut.png"), "crop", seed)
        assert a.record() == b.record()
        assert [image.tobytes() for image in a.images] == [image.tobytes() for image in b.images]
        replay = render_spec(scenes["astronaut"], "crop", a.spec, seed=seed, controls=a.controls)
        assert [image.tobytes() for image in replay.images] == [image.tobytes() for image in a.images]


def test_near_identical_options_are_still_rejected():
    # A uniform image with sensor-like noise: every option's thumbnail is the same grey.
    rng = np.random.default_rng(0)
    noisy = np.clip(128 + rng.normal(0, 3, (256, 384, 3)), 0, 255).astype(np.uint8)
    for rgb in (np.full((256, 256, 3), 128, np.uint8), noisy):
        result = generate(Scene(rgb), "crop", 0)
        assert not result.ok and "nearly identical" in result.reason
        # ... and it is the option-difference check that rejects them.
        assert generate(Scene(rgb), "crop", 0, {"min_option_difference": 0.0}).ok

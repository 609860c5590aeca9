"""The task contract: every registered kind is complete, the tables elsewhere follow it, people's answers are
read as people write them, and the sixth task (rotation), added as one module, works everywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import textured_rgb
from scipy.stats import chisquare

from spatial_ssrl.analysis.audit import run_audit
from spatial_ssrl.analysis.baselines import BASELINES, baselines_for
from spatial_ssrl.analysis.quality import soundness
from spatial_ssrl.data.dataset import build
from spatial_ssrl.data.mix import PAPER_MIX, VARIANTS, parse_mix
from spatial_ssrl.reward import verify
from spatial_ssrl.scenes.folders import discover_scenes
from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks import KINDS, MULTIPLE_CHOICE, TASKS, TaskKind, generate
from spatial_ssrl.tasks.contract import check_complete
from spatial_ssrl.tasks.rotation import square, turned

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scene() -> Scene:
    return Scene(rgb=textured_rgb(240, 320, seed=3), name="textured")


def test_every_kind_is_complete_and_an_incomplete_one_is_named():
    for kind in KINDS:
        check_complete(kind)
        assert kind.answer_kind == ("letter" if kind.name in MULTIPLE_CHOICE else "sequence")

    class Half(TaskKind):
        name = "half"
        answer_help = "anything"

        def sample(self, scene, rng, controls):
            return {}

    with pytest.raises(TypeError, match=r"does not define \['explain', 'overlay', 'render', 'soundness'\]"):
        check_complete(Half())


def test_the_verifiers_own_table_agrees_with_the_contract():
    """verify.py imports nothing of the project; its answer kinds must still be the contract's."""
    for kind in KINDS:
        space = kind.answer_space({"grid": "2x2"} if kind.name == "shuffle" else None)
        read_as = verify.TASK_KINDS.get(kind.name) or verify._kind_of(space[0])
        assert read_as == kind.answer_kind, kind.name
        assert all(verify._kind_of(answer) == kind.answer_kind for answer in space)


@pytest.mark.parametrize("task, typed, expected", [
    ("shuffle", "1, 2, 0", "1-2-0"), ("shuffle", "1 2 0", "1-2-0"), ("shuffle", "120", "1-2-0"),
    ("shuffle", "1-1-2", None), ("shuffle", "0 1 2", None), ("flip", "3, vertical", "3-0"), ("flip", "2 1", "2-1"),
    ("depth", "3,1,2", "3-1-2"), ("depth", "312", "3-1-2"), ("depth", "1-2", None),
    ("crop", "b", "B"), ("crop", "(c)", "C"), ("crop", "B.", "B"), ("crop", "E", None), ("crop", "maybe", None),
    ("rotation", "90", "B"), ("rotation", "270 degrees", "D"), ("rotation", "a", "A"),
])
def test_typed_answers_are_read_as_people_write_them(scene, task, typed, expected):
    controls = {"grid": "1x3"} if task == "shuffle" else {}
    source = scene if not TASKS[task].needs_depth else None
    if task == "depth":
        pytest.importorskip("h5py")
        from spatial_ssrl.scenes.assets import load_asset
        source = load_asset("room")
    made = generate(source, task, 1, controls)
    assert made.ok
    assert TASKS[task].parse_answer(typed, made) == expected


def test_position_answers_by_option_text():
    from spatial_ssrl.scenes.assets import load_asset

    task = generate(load_asset("room"), "position", 2)
    letter = TASKS["position"].parse_answer(task.options[2].lower(), task)
    assert letter == "C" and TASKS["position"].parse_answer("C. " + task.options[2], task) == "C"
    assert TASKS["position"].parse_answer("C. " + task.options[1], task) is None, "letter and text disagree"


# ------------------------------------------------------------------------------------- rotation

@pytest.mark.parametrize("target", ["image", "patch"])
def test_rotation_answer_recomputed_from_raw_pixels(scene, target):
    upright = square(scene.rgb)
    seen = Counter()
    for seed in range(24):
        task = generate(scene, "rotation", seed, {"target": target})
        assert task.ok and task.options == ["0 degrees", "90 degrees", "180 degrees", "270 degrees"]
        quarters = "ABCD".index(task.answer)
        seen[quarters] += 1
        shown = np.asarray(task.images[0])
        if target == "image":
            assert shown.shape == upright.shape, "square: the shape never gives the turn away"
            assert np.array_equal(turned(shown, -quarters), upright)
        else:
            half = upright.shape[0] // 2
            away_from_label = np.ones((half, half), bool)  # each patch's label badge sits at its centre
            away_from_label[half // 3:half - half // 3, half // 3:half - half // 3] = False
            for index in range(4):
                r, c = divmod(index, 2)
                patch = shown[r * half:(r + 1) * half, c * half:(c + 1) * half]
                original = upright[r * half:(r + 1) * half, c * half:(c + 1) * half]
                undo = -quarters if index == task.spec["patch"] else 0
                assert np.array_equal(turned(patch, undo)[away_from_label], original[away_from_label])
            assert f"Patch {task.spec['patch']}" in task.question
        assert not soundness(scene, task)["ambiguous"]
    assert len(seen) == 4, "every turn occurs"


def test_rotation_answers_are_balanced(scene):
    answers = Counter(generate(scene, "rotation", seed).answer for seed in range(400))
    assert set(answers) == set("ABCD") and chisquare([answers[letter] for letter in "ABCD"]).pvalue > 0.001


def test_a_rotation_that_looks_the_same_is_refused():
    uniform = Scene(rgb=np.full((96, 96, 3), 128, np.uint8), name="grey")
    ys, xs = np.mgrid[-24:24, -24:24]
    grey = (((np.hypot(ys + 0.5, xs + 0.5) // 5) % 2) * 255).astype(np.uint8)
    rings = np.repeat(grey[:, :, None], 3, axis=2)
    centred = np.pad(rings, ((24, 24), (24, 24), (0, 0)), mode="wrap")  # rings around the image's centre
    tiled = np.tile(rings, (2, 2, 1))  # rings around each patch's centre
    for source, targets in ((uniform, ("image", "patch")), (Scene(rgb=np.ascontiguousarray(centred)), ("image",)),
                            (Scene(rgb=tiled), ("image", "patch"))):
        for target in targets:
            result = generate(source, "rotation", 0, {"target": target})
            assert not result.ok and "symmetric or uniform" in result.reason, (source.name, target)
    textured = Scene(rgb=textured_rgb(96, 96))
    assert all(generate(textured, "rotation", 0, {"target": target}).ok for target in ("image", "patch"))


def test_rotation_reaches_the_verifier_baselines_and_mixes(scene):
    task = generate(scene, "rotation", 5)
    assert verify.score(f"<think>x</think> \\boxed{{({task.answer.lower()})}}", task.answer, mode="lenient",
                        task="rotation").accuracy == 1
    names = [baseline.name for baseline in baselines_for("rotation")]
    assert names == ["answer_prior", "rotation_bright_top", "rotation_seams"]
    for name in names:
        assert verify.score(BASELINES[name].respond(task, scene), task.answer).format == 1
    assert {"rotation:image", "rotation:patch"} <= set(VARIANTS)
    assert not any(name.startswith("rotation") for name in PAPER_MIX) and \
        not any(name.startswith("rotation") for name in parse_mix("paper")), "not in the paper's mix"
    assert parse_mix("rotation=1") == {"rotation:image": 0.5, "rotation:patch": 0.5}


@pytest.mark.slow
def test_rotation_in_the_cli_the_builder_and_the_audit(tmp_path):
    from spatial_ssrl.scenes.assets import ASSETS_DIR

    out = tmp_path / "one"
    run = subprocess.run([sys.executable, "-m", "spatial_ssrl", "generate", "--task", "rotation", "--image",
                          str(ASSETS_DIR / "coffee.png"), "--set", "target=patch", "--seed", "4", "--out", str(out)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    record = json.loads((out / "task.json").read_text())
    assert record["task"] == "rotation" and record["spec"]["target"] == "patch" and record["answer"] in "ABCD"

    images = tmp_path / "images"
    images.mkdir()
    for name in ("coffee.png", "chelsea.png", "astronaut.png"):
        (images / name).write_bytes((ASSETS_DIR / name).read_bytes())
    manifest = build(discover_scenes(images), tmp_path / "data", count=12, mix="rotation=1", seed=0, fmt="jsonl",
                     workers=1, progress=False)
    assert manifest["produced"]["by_task"] == {"rotation": 12}
    rows = [json.loads(line) for line in (tmp_path / "data" / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and {row["answer"] for row in rows} <= set("ABCD")

    from spatial_ssrl.scenes.assets import load_asset
    report = run_audit([load_asset("coffee"), load_asset("chelsea")], tmp_path / "audit", per_task=8, seed=0,
                       tasks=("rotation",))
    default = report["tasks"]["rotation"]["sound"]
    assert list(report["tasks"]["rotation"]) == ["sound"]
    assert set(default["baselines"]) == {"answer_prior", "rotation_bright_top", "rotation_seams"}
    assert default["n"] == 8 and default["ambiguity"]["count"] == 0

"""The page as built (no browser): what a visitor meets first on a machine without the model, the task views'
names, the model-facing view's template, and the hooks the page runs (address bar, Enter in a number box)."""

from __future__ import annotations

import pytest

from demo import Studio, build_demo, launch_options
from demo.layout import ENTER_APPLIES, MODEL_VIEW_TEMPLATE, SYNC_ADDRESS_BAR, TAB_NAMES


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> dict:
    """elem_id -> (component type, props) of the page built for a Studio whose models cannot load."""
    studio = Studio(model=str(tmp_path_factory.mktemp("no-model") / "missing"), depth_model="./no-depth-model",
                    files_dir=tmp_path_factory.mktemp("files"), point_budget=2000)
    config = build_demo(studio).get_config_file()
    return {component["props"]["elem_id"]: (component["type"], component["props"])
            for component in config["components"] if component.get("props", {}).get("elem_id")}


def test_a_visitor_meets_one_line_and_the_details_folded(page):
    kind, banner = page["banner"]
    assert banner["value"] == "**The model is not loaded here**: tasks, scoring and reveal all work."
    kind, details = page["banner-details"]
    assert kind == "accordion" and details["open"] is False
    details_text = page["banner-text"][1]["value"]
    assert "SPATIAL_SSRL_MODEL=DIR" in details_text and "--model DIR" in details_text


def test_model_buttons_are_off_with_their_reason_beside_them(page):
    for button in ("run-model", "stop-model", "sample-group"):
        assert page[button][1]["interactive"] is False, button
    assert page["run-model"][1]["variant"] == "secondary", "not a primary button that cannot work"
    for reason in ("model-off", "group-off"):
        assert page[reason][1]["value"].startswith("Off here")
    assert page["estimate-depth"][1]["interactive"] is False


def test_the_task_views_have_short_names_and_the_model_view_draws_whole_images(page):
    labels = [page[f"tab-{key}"][1]["label"] for key in ("images", "overlay", "depth", "points")]
    assert labels == list(TAB_NAMES.values()) == ["Model input", "Explained", "Depth", "3D"]
    assert sum(len(label) for label in labels) <= 28, "four tabs fit a phone's width (the browser tests measure it)"
    kind, view = page["model-images"]
    assert kind == "html" and view["html_template"] == MODEL_VIEW_TEMPLATE
    for needed in ("{{value.main.image.url}}", "{{#each value.options}}", "<figcaption><b>{{this.letter}}</b>"):
        assert needed in MODEL_VIEW_TEMPLATE
    assert "{{{" not in MODEL_VIEW_TEMPLATE, "captions are escaped"
    assert page["depth-note"][0] == page["points-note"][0] == "markdown"


def test_depth_scale_starts_blank_and_the_gallery_marks_depth(page):
    kind, scale = page["depth-scale"]
    assert kind == "textbox" and not scale.get("value"), "blank, not 0"
    captions = [item["caption"] for item in page["scene-gallery"][1]["value"]]
    assert "room · depth" in captions and "astronaut" in captions


def test_page_hooks():
    options = launch_options()
    assert options["js"] == ENTER_APPLIES and "number-input" in ENTER_APPLIES and "blur()" in ENTER_APPLIES
    assert "window.location.pathname" in SYNC_ADDRESS_BAR, "no permalink: the old one leaves the address bar"

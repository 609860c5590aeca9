"""The app in a real browser: Debian's chromium driven by Playwright against `python app.py` (the fixtures
`browser`, `app_url` and `shots` are in conftest)."""

from __future__ import annotations

import re

import pytest
from conftest import TIMEOUT_MS
from playwright.sync_api import Page, expect

from spatial_ssrl.tasks import TASK_NAMES

pytestmark = pytest.mark.browser

expect.set_options(timeout=TIMEOUT_MS)  # assertions wait as long as actions: the machine may be busy


@pytest.fixture
def page(browser) -> Page:
    context = browser.new_context(viewport={"width": 1440, "height": 1600})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors = []
    opened.on("pageerror", lambda error: errors.append(error))
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def question(page: Page):
    return page.locator("#question")


def pick_task(page: Page, task: str, seed: int) -> None:
    page.locator("#task-name label").filter(has_text=re.compile(f"^\\s*{task}\\s*$")).click()
    expect(question(page)).to_contain_text(f"({task}, seed {seed})")


def test_every_task_with_its_views_reveal_and_a_scored_answer(page, app_url, shots):
    page.goto(app_url + "?scene=room&task=shuffle&seed=3")
    expect(question(page)).to_contain_text("(shuffle, seed 3)")
    expect(page.locator("#model-images img").first).to_be_visible()
    expect(page.locator("#banner")).to_have_text("The model is not loaded here: tasks, scoring and reveal all work.")
    for task in TASK_NAMES:
        pick_task(page, task, 3)
        expect(page.locator("#model-images img")).to_have_count(5 if task == "crop" else 1)
        if task == "crop":
            expect(question(page)).to_contain_text("<image2><image3><image4><image5>")
        assert "task=" + task in page.url, "the address bar follows the permalink"
        page.screenshot(path=str(shots / f"task_{task}.png"), full_page=True)
        page.get_by_role("tab", name="Explained").click()
        expect(page.locator("#overlay img")).to_be_visible()
        page.get_by_role("tab", name="Model input").click()

    # Position, the richest: depth map, 3D view, then reveal and answer with an option button.
    pick_task(page, "position", 3)
    page.get_by_role("tab", name="Depth", exact=True).click()
    expect(page.locator("#depth-map img")).to_be_visible()
    page.locator("#depth-map").screenshot(path=str(shots / "depth_map.png"))
    page.get_by_role("tab", name="3D", exact=True).click()
    expect(page.locator("#points canvas")).to_have_count(1)
    page.wait_for_timeout(2000)
    page.locator("#points").screenshot(path=str(shots / "points_3d.png"))
    page.get_by_role("tab", name="Explained").click()

    expect(page.locator("#soundness-panel")).to_be_hidden()  # it names the answer: hidden until Reveal
    page.locator("#reveal").click()
    expect(page.locator("#revealed")).to_contain_text("Answer:")
    letter = re.search(r"Answer: (\w)", page.locator("#revealed").inner_text()).group(1)
    expect(page.locator("#spec")).to_be_visible()
    expect(page.locator("#soundness-panel")).to_be_visible()
    expect(page.locator("#soundness")).to_contain_text("Is the answer fixed by the picture?")
    expect(page.locator("#soundness table")).to_contain_text("lateral distance to threshold")
    page.locator("#run-baselines").click()
    expect(page.locator("#baselines")).to_contain_text("Can a shortcut guess the answer?")
    expect(page.locator("#baselines table")).to_contain_text("position_x_order")
    page.locator("#answer-choice label").filter(has_text=re.compile(f"^\\s*{letter}\\.")).click()
    page.locator("#score-answer").click()
    expect(page.locator("#human-result")).to_contain_text("✔ Right")
    page.screenshot(path=str(shots / "position_revealed.png"), full_page=True)

    # Depth: type the order, first wrong, then right.
    pick_task(page, "depth", 3)
    expect(page.locator("#revealed")).to_have_text("")
    expect(page.locator("#soundness-panel")).to_be_hidden()
    page.locator("#reveal").click()
    expect(page.locator("#revealed")).to_contain_text("Answer:")
    order = re.search(r"Answer: ([\d-]+)", page.locator("#revealed").inner_text()).group(1)
    box = page.locator("#answer-text textarea")
    box.fill("-".join(reversed(order.split("-"))))
    page.locator("#score-answer").click()
    expect(page.locator("#human-result")).to_contain_text("✘ Not right")
    box.fill(order.replace("-", " - "))
    page.get_by_text("lenient", exact=True).click()
    page.locator("#score-answer").click()
    expect(page.locator("#human-result")).to_contain_text("✔ Right")
    expect(page.locator("#human-result")).to_contain_text("lenient")
    page.screenshot(path=str(shots / "depth_scored.png"), full_page=True)


def test_new_task_draws_a_seed_presets_step_and_a_link_rebuilds_it(page, app_url, browser):
    page.goto(app_url + "?scene=tabletop&task=flip&seed=0")
    expect(question(page)).to_contain_text("(flip, seed 0)")
    page.locator("#new-task").click()
    expect(question(page)).not_to_contain_text("(flip, seed 0)")
    seed = re.search(r"seed (\d+)", question(page).inner_text()).group(1)
    expect(page).to_have_url(re.compile(f"seed={seed}"))

    page.locator("#presets").get_by_text("4. depth on room (seed 42)").click()
    expect(question(page)).to_contain_text("(depth, seed 42)")
    expect(page).to_have_url(re.compile("scene=room&task=depth&seed=42"))
    first = page.locator("#model-images img").first.get_attribute("src")

    other = browser.new_page()
    other.goto(page.url)
    expect(other.locator("#question")).to_contain_text("(depth, seed 42)")
    assert other.locator("#permalink textarea, #permalink input").first.input_value() == \
        page.locator("#permalink textarea, #permalink input").first.input_value()
    assert other.locator("#model-images img").first.get_attribute("src").split("/")[-2:] == first.split("/")[-2:]
    other.close()


def test_a_bad_upload_shows_an_error_and_the_app_stays_up(page, app_url, shots, tmp_path):
    bad = tmp_path / "holiday.png"
    bad.write_bytes(b"GIF89a but not really an image at all")
    page.goto(app_url + "?scene=room&task=crop&seed=1")
    expect(question(page)).to_contain_text("(crop, seed 1)")
    page.get_by_role("tab", name="Upload your own").click()
    page.locator("#upload-rgb input[type=file]").set_input_files(str(bad))
    expect(page.locator("#upload-rgb")).to_contain_text("holiday.png")
    page.locator("#use-upload").click()
    expect(page.locator("#scene-info")).to_contain_text("cannot be used")
    page.screenshot(path=str(shots / "bad_upload.png"), full_page=True)
    pick_task(page, "shuffle", 1)  # still answering, on the previous scene
    expect(page.locator("#model-images img")).to_have_count(1)


def test_a_hostile_link_and_answer_are_shown_as_text_and_fetch_nothing(page, app_url, shots):
    """The attack from the issue: a link whose control value holds a link, an image (a tracking pixel) and a
    password form, and a seed past 2^64. The page shows them as text, fetches nothing, and still has a task."""
    from urllib.parse import quote, urlparse

    attack = ("<a href=https://evil.example/>click</a><h1>Log in</h1><form><input type=password></form>"
              "<img src=https://evil.example/pixel.png> ![p](https://evil.example/p.png) [x](https://evil.example/)")
    fetched = []
    page.on("request", lambda request: fetched.append(request.url)
            if urlparse(request.url).hostname == "evil.example" else None)
    page.goto(app_url + f"?scene=room&task=depth&seed=18446744073709551616&region_size={quote(attack)}")
    expect(question(page)).to_contain_text("(depth, seed 4294967295)")
    status = page.locator("#task-status")
    expect(status).to_contain_text("Seed '18446744073709551616' is not a whole number from 0 to 4294967295")
    expect(status).to_contain_text("region_size: expected int, got '<a href=https://evil.example/>click</a>")
    expect(page.locator("#seed input")).to_have_value("4294967295")

    page.locator("#answer-text textarea").fill(attack)
    page.locator("#score-answer").click()
    expect(page.locator("#human-result")).to_contain_text("is not a depth answer this page can read")
    expect(page.locator("#human-result")).to_contain_text("evil.example/pixel.png")
    page.locator("#answer-text textarea").fill(f"<think>{attack}</think> \\boxed{{{attack}}}")
    page.locator("#score-answer").click()  # a full response: the verifier's echo of it is shown too
    expect(page.locator("#human-result")).to_contain_text("Not right")
    expect(page.locator("#human-result table")).to_contain_text("evil.example/pixel.png")
    page.screenshot(path=str(shots / "hostile_link.png"), full_page=True)
    for selector in ("a[href*='evil.example']", "img[src*='evil.example']", "input[type=password]", "form",
                     "#task-status h1", "#human-result h1"):
        expect(page.locator(selector)).to_have_count(0)
    assert not fetched, f"the page fetched {fetched}"


# ------------------------------------------------------------------ every audience's first look, at every size

#: Phone, laptop, the issue's laptop, projector.
SIZES = {"phone": (390, 844), "laptop": (1280, 720), "wide": (1440, 900), "projector": (1920, 1080)}

#: Every ancestor of each model-facing image that clips or scrolls, and whether the image lies inside it;
#: whether the image is drawn whole (its box has the picture's own shape) and the page's sideways overflow.
LAYOUT_PROBE = """() => {
  const out = {images: [], pageOverflow: document.documentElement.scrollWidth - window.innerWidth};
  for (const img of document.querySelectorAll('#model-images img')) {
    const box = img.getBoundingClientRect();
    const clippers = [];
    for (let node = img.parentElement; node && node !== document.body; node = node.parentElement) {
      const style = getComputedStyle(node);
      if ([style.overflowX, style.overflowY].some(v => v !== 'visible')) {
        const r = node.getBoundingClientRect();
        clippers.push({id: node.id || node.className, inside: box.left >= r.left - 0.5 && box.right <= r.right + 0.5
                       && box.top >= r.top - 0.5 && box.bottom <= r.bottom + 0.5,
                       scrolls: node.scrollHeight > node.clientHeight + 1 && ['auto', 'scroll'].includes(style.overflowY)});
      }
    }
    out.images.push({left: box.left, right: box.right, top: box.top, bottom: box.bottom, width: box.width,
                     height: box.height, natural: img.naturalWidth / img.naturalHeight, loaded: img.complete
                     && img.naturalWidth > 0, clippers});
  }
  const view = document.querySelector('#model-images').getBoundingClientRect();
  out.container = {left: view.left, right: view.right, top: view.top, bottom: view.bottom};
  return out;
}"""


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def sized(request, browser):
    width, height = SIZES[request.param]
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors = []
    opened.on("pageerror", lambda error: errors.append(error))
    yield request.param, opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def assert_whole_and_in_view(page: Page, width: int, task: str) -> None:
    expect(page.locator("#model-images img")).to_have_count(5 if task == "crop" else 1)
    page.wait_for_function("() => Array.from(document.querySelectorAll('#model-images img'))"
                           ".every(img => img.complete && img.naturalWidth > 0)")
    probe = page.evaluate(LAYOUT_PROBE)
    assert probe["pageOverflow"] <= 0, f"the page scrolls sideways by {probe['pageOverflow']} px"
    box = probe["container"]
    for image in probe["images"]:
        assert image["loaded"], task
        assert 0 <= image["left"] and image["right"] <= width + 0.5, f"{task}: outside the viewport {image}"
        assert box["left"] - 0.5 <= image["left"] and image["right"] <= box["right"] + 0.5, f"{task}: {image}"
        assert box["top"] - 0.5 <= image["top"] and image["bottom"] <= box["bottom"] + 0.5, f"{task}: {image}"
        assert image["width"] / image["height"] == pytest.approx(image["natural"], rel=0.02), "drawn whole"
        for clipper in image["clippers"]:
            assert clipper["inside"] and not clipper["scrolls"], f"{task}: clipped or scrolled by {clipper}"
    if task == "crop":
        main, *options = probe["images"]
        assert main["width"] >= 0.5 * (box["right"] - box["left"]) or \
            main["height"] >= 0.35 * page.viewport_size["height"], "the holed picture is big"
        assert min(option["width"] for option in options) >= 80, "the options are readable"
        rows = sorted({round(option["top"]) for option in options})
        assert len(rows) == (2 if width < 640 else 1), f"options A-D in one row (two on a phone): {rows}"
        letters = page.locator("#model-images .option figcaption")
        expect(letters).to_have_text(list("ABCD"))
        for index in range(4):  # each letter sits below its picture, never on it
            assert letters.nth(index).bounding_box()["y"] >= options[index]["bottom"] - 0.5
    else:
        assert probe["images"][0]["width"] >= 0.6 * (box["right"] - box["left"]) or \
            probe["images"][0]["height"] >= 0.5 * page.viewport_size["height"], "whole and large"


def test_every_task_is_wholly_in_view_at_every_size(sized, app_url, shots):
    name, page = sized
    width, height = SIZES[name]
    page.goto(app_url + "?scene=room&task=shuffle&seed=3")
    expect(question(page)).to_contain_text("(shuffle, seed 3)")
    tabs = page.locator("#task-views [role=tablist] [role=tab]")
    expect(tabs).to_have_text(["Model input", "Explained", "Depth", "3D"])  # none behind an overflow menu
    for index in range(4):
        assert tabs.nth(index).bounding_box()["x"] + tabs.nth(index).bounding_box()["width"] <= width
    expect(page.locator("#banner")).to_have_text("The model is not loaded here: tasks, scoring and reveal all work.")
    expect(page.locator("#banner-text")).to_be_hidden()  # the details are collapsed
    page.screenshot(path=str(shots / f"{name}_{width}x{height}_top.png"))
    for task in TASK_NAMES:
        pick_task(page, task, 3)
        assert_whole_and_in_view(page, width, task)
        page.locator("#task-views").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / f"{name}_{width}x{height}_{task}.png"))
    page.screenshot(path=str(shots / f"{name}_{width}x{height}_full.png"), full_page=True)


def test_visitors_banner_details_and_model_buttons(page, app_url, shots):
    page.goto(app_url + "?scene=room&task=flip&seed=2")
    expect(question(page)).to_contain_text("(flip, seed 2)")
    page.locator("#banner-details").get_by_text("Details").click()
    details = page.locator("#banner-text")
    expect(details).to_contain_text("Model unavailable here")
    expect(details).to_contain_text("SPATIAL_SSRL_MODEL=DIR")
    for button in ("#run-model", "#sample-group"):
        expect(page.locator(button)).to_be_disabled()
    expect(page.locator("#model-off")).to_contain_text("Off here")
    expect(page.locator("#group-off")).to_contain_text("Off here")
    page.get_by_role("tab", name="Upload your own").click()
    expect(page.locator("#estimate-depth input")).to_be_disabled()
    expect(page.locator("#depth-scale textarea, #depth-scale input").first).to_have_value("")  # blank, not 0
    page.locator("#model-section").screenshot(path=str(shots / "model_buttons_off.png"))


def test_typed_answers_in_the_accepted_spellings_score_1(browser, app_url, shots):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.goto(app_url + "?scene=room&task=shuffle&seed=3")
    expect(question(page)).to_contain_text("(shuffle, seed 3)")
    box = page.locator("#answer-text textarea")
    for task in TASK_NAMES:
        pick_task(page, task, 3)
        page.locator("#reveal").click()
        expect(page.locator("#revealed")).to_contain_text("Answer:")
        answer = re.search(r"Answer: ([\w-]+)", page.locator("#revealed").inner_text()).group(1)
        if "-" in answer:
            parts = answer.split("-")
            spellings = [", ".join(parts), " ".join(parts)] + (["".join(parts)] if all(len(p) == 1 for p in parts)
                                                               else [])
        else:
            spellings = [answer.lower()]
        for typed in spellings:
            box.fill(typed)
            page.locator("#score-answer").click()
            expect(page.locator("#human-result")).to_contain_text(f"Read {typed} as")
            expect(page.locator("#human-result")).to_contain_text("✔ Right (scored in strict mode)")
        page.locator("#human-result").screenshot(path=str(shots / f"typed_{task}.png"))
    box.fill("somewhere")
    page.locator("#score-answer").click()
    expect(page.locator("#human-result")).to_contain_text("this page can read. Expected:")
    context.close()


def test_reveal_stays_open_when_the_answer_does_not_change_and_enter_applies(page, app_url, shots):
    page.goto(app_url + "?scene=room&task=depth&seed=5")
    expect(question(page)).to_contain_text("(depth, seed 5)")
    page.locator("#reveal").click()
    expect(page.locator("#revealed")).to_contain_text("Answer:")
    answer = re.search(r"Answer: [\w-]+", page.locator("#revealed").inner_text()).group(0)
    page.locator("#task-name").scroll_into_view_if_needed()
    page.get_by_text("depth controls").click()
    page.locator("#control-depth-style input").click()
    page.get_by_role("option", name="clear").click()
    expect(page).to_have_url(re.compile("style=clear"))
    expect(page.locator("#revealed")).to_contain_text(answer)  # same answer: still revealed
    expect(page.locator("#soundness-panel")).to_be_visible()

    size = page.locator("#control-depth-region_size input[type=number]")
    size.fill("31")
    size.press("Enter")  # Enter applies the typed number
    expect(page).to_have_url(re.compile("region_size=31"))
    expect(page.locator("#permalink textarea, #permalink input").first).to_have_value(re.compile("region_size=31"))
    page.screenshot(path=str(shots / "controls_applied.png"), full_page=True)


def test_an_rgb_only_scene_says_how_to_get_depth_and_uploads_drop_the_old_link(page, app_url, shots, tmp_path):
    from PIL import Image

    from spatial_ssrl.scenes.assets import load_asset

    page.goto(app_url + "?scene=astronaut&task=flip&seed=1")
    expect(question(page)).to_contain_text("(flip, seed 1)")
    expect(page.locator("#scene-gallery")).to_contain_text("room · depth")
    page.get_by_role("tab", name="Depth", exact=True).click()
    expect(page.locator("#depth-note")).to_contain_text("No depth map for astronaut")
    expect(page.locator("#depth-note")).to_contain_text("Estimate depth")
    expect(page.locator("#depth-map")).to_be_hidden()
    page.locator("#task-views").screenshot(path=str(shots / "rgb_only_depth_tab.png"))
    page.get_by_role("tab", name="3D", exact=True).click()
    expect(page.locator("#points-note")).to_contain_text("No 3D view for astronaut")

    page.goto(app_url + "?scene=room&task=flip&seed=4")
    expect(question(page)).to_contain_text("(flip, seed 4)")
    page.locator("#reveal").click()
    expect(page.locator("#revealed")).to_contain_text("Answer:")
    revealed = re.search(r"Answer: [\w-]+", page.locator("#revealed").inner_text()).group(0)
    bad = tmp_path / "holiday.png"
    bad.write_bytes(b"not an image at all")
    page.get_by_role("tab", name="Upload your own").click()
    page.locator("#upload-rgb input[type=file]").set_input_files(str(bad))
    expect(page.locator("#upload-rgb")).to_contain_text("holiday.png")
    page.locator("#use-upload").click()
    expect(page.locator("#scene-info")).to_contain_text("cannot be used")
    expect(page.locator("#revealed")).to_contain_text(revealed)  # a failed upload leaves Reveal open
    assert "scene=room" in page.url

    good = tmp_path / "garden.png"
    Image.fromarray(load_asset("coffee").rgb).save(good)
    page.locator("#upload-rgb").get_by_role("button", name=re.compile("clear", re.IGNORECASE)).first.click()
    page.locator("#upload-rgb input[type=file]").set_input_files(str(good))
    expect(page.locator("#upload-rgb")).to_contain_text("garden.png")
    page.locator("#use-upload").click()
    expect(page.locator("#scene-info")).to_contain_text("garden")
    expect(question(page)).to_contain_text("(flip, seed 4)")
    expect(page).not_to_have_url(re.compile("scene="))  # the shipped scene's link is gone
    expect(page.locator("#task-status")).to_contain_text("no permalink")
    page.screenshot(path=str(shots / "upload_used.png"), full_page=True)

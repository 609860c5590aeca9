"""The app in a real browser: Debian's chromium driven by Playwright against `python app.py`.

Screenshots go to $SPATIAL_SSRL_ARTEFACTS/screenshots when that is set (CI keeps them), else to a pytest
temporary folder; the path is printed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import running_app
from playwright.sync_api import Page, expect, sync_playwright

from spatial_ssrl.tasks import TASK_NAMES

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 60_000
expect.set_options(timeout=TIMEOUT_MS)  # assertions wait as long as actions: the machine may be busy


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("browser-app")) as (url, _):
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    root = os.environ.get("SPATIAL_SSRL_ARTEFACTS")
    folder = (Path(root) if root else tmp_path_factory.mktemp("artefacts")) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


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
    expect(page.locator("#banner")).to_contain_text("Model unavailable here")
    for task in TASK_NAMES:
        pick_task(page, task, 3)
        expect(page.locator("#model-images img")).to_have_count(5 if task == "crop" else 1)
        if task == "crop":
            expect(question(page)).to_contain_text("<image2><image3><image4><image5>")
        assert "task=" + task in page.url, "the address bar follows the permalink"
        page.screenshot(path=str(shots / f"task_{task}.png"), full_page=True)
        page.get_by_role("tab", name="Explained").click()
        expect(page.locator("#overlay img")).to_be_visible()
        page.get_by_role("tab", name="What the model sees").click()

    # Position, the richest: depth map, 3D view, then reveal and answer with an option button.
    pick_task(page, "position", 3)
    page.get_by_role("tab", name="Depth map").click()
    expect(page.locator("#depth-map img")).to_be_visible()
    page.locator("#depth-map").screenshot(path=str(shots / "depth_map.png"))
    page.get_by_role("tab", name="3D points").click()
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

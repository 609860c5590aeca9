"""The researcher's tools in Debian's chromium (Playwright) against `python app.py`: the full link on the
clipboard reopens the same task, the downloaded zip is the generated task, each crop option's kind and
distances appear after Reveal (not before), N seeds are checked and stopped, at 1440x900 and on a phone.

Screenshots go where `shots` says (conftest); `researcher_1440x900.png` is the docs' researcher picture."""

from __future__ import annotations

import io
import json
import re
import zipfile
from urllib.parse import urlparse

import numpy as np
import pytest
from conftest import TIMEOUT_MS, fill_and_commit
from PIL import Image
from playwright.sync_api import Page, expect

from demo import research
from spatial_ssrl.analysis.audit import check_seeds
from spatial_ssrl.analysis.quality import soundness
from spatial_ssrl.scenes.assets import load_asset
from spatial_ssrl.tasks import generate

pytestmark = pytest.mark.browser

expect.set_options(timeout=TIMEOUT_MS)

LINK = "?scene=room&task=crop&seed=5&size_fraction=0.4"
CONTROLS = {"size_fraction": 0.4}
#: Whether any part of the page scrolls sideways, and every researcher control's box.
SIDEWAYS = """() => ({overflow: document.documentElement.scrollWidth - window.innerWidth,
  boxes: ['#research', '#seed-count', '#check-seeds', '#stop-seed-check', '#seed-check', '#download-task',
          '#copy-full-link', '#full-link', '#option-facts'].map(id => {
    const r = document.querySelector(id).getBoundingClientRect(); return {id, left: r.left, right: r.right}; })})"""


def open_page(browser, width: int, height: int) -> tuple:
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    return context, page, errors


def open_research(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#question")).to_contain_text("(crop, seed 5)")
    page.locator("#research").get_by_text("For researchers").click()
    expect(page.locator("#check-seeds")).to_be_visible()


def set_seed_count(page: Page, n) -> None:
    """Type N; Tab commits it (Gradio's Number takes its value on change: a click right after fill can beat it)."""
    box = page.locator("#seed-count input")
    for _ in range(5):  # while the page is still opening, a late update can put the default back: type again
        fill_and_commit(page, box, str(n))
        if box.input_value() == str(n):
            break
    expect(box).to_have_value(str(n))


def check(page: Page, n: int) -> None:
    set_seed_count(page, n)
    page.locator("#check-seeds").click()
    expect(page.locator("#seed-check")).to_contain_text(f"Checked {n} of {n} seeds")


def assert_nothing_scrolls_sideways(page: Page, width: int) -> None:
    probe = page.evaluate(SIDEWAYS)
    assert probe["overflow"] <= 0, f"the page scrolls sideways by {probe['overflow']} px"
    for box in probe["boxes"]:
        assert box["left"] >= -0.5 and box["right"] <= width + 0.5, box


def test_a_researcher_copies_the_link_downloads_reveals_and_checks_seeds(browser, app_url, shots):
    context, page, errors = open_page(browser, 1440, 900)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_research(page, app_url + LINK)
    room = load_asset("room")
    expected = generate(room, "crop", 5, CONTROLS)

    # The full link: absolute, this page's origin and path with the permalink's query; copied as shown.
    full = page.locator("#full-link textarea, #full-link input").first
    permalink = page.locator("#permalink textarea, #permalink input").first.input_value()
    expect(full).to_have_value(app_url + permalink)
    page.locator("#copy-full-link").click()
    expect(page.locator("#full-link-note")).to_have_text("Copied to the clipboard.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == full.input_value() and urlparse(copied).netloc == urlparse(app_url).netloc
    other = context.new_page()  # a fresh page from the copied link rebuilds the same task
    other.goto(copied)
    expect(other.locator("#question")).to_contain_text("(crop, seed 5)")
    expect(other.locator("#permalink textarea, #permalink input").first).to_have_value(permalink)
    sources = [img.get_attribute("src").split("/")[-2:] for img in page.locator("#model-images img").all()]
    assert [img.get_attribute("src").split("/")[-2:] for img in other.locator("#model-images img").all()] == sources
    other.close()

    # The download: the task.json `generate` writes, and valid PNGs with the task's pixels.
    with page.expect_download() as started:
        page.locator("#download-task").click()
    download = started.value
    assert download.suggested_filename == "room-crop-seed5.zip"
    with zipfile.ZipFile(download.path()) as archive:
        assert json.loads(archive.read("room-crop-seed5/task.json")) == expected.record()
        for name, image in zip(expected.image_names(), expected.images):
            data = archive.read(f"room-crop-seed5/{name}")
            with Image.open(io.BytesIO(data)) as png:
                png.verify()
            with Image.open(io.BytesIO(data)) as png:
                assert png.format == "PNG" and np.array_equal(np.asarray(png.convert("RGB")), np.asarray(image))
    expect(page.locator("#task-zip")).to_contain_text("room-crop-seed5")

    # Each option's kind and distances: not before Reveal, then the record's kinds and the soundness distances.
    page.get_by_role("tab", name="Explained").click()
    expect(page.locator("#overlay img")).to_be_visible()
    expect(page.locator("#option-facts .option-fact")).to_have_count(0)
    page.locator("#reveal").click()
    expect(page.locator("#option-facts .option-fact")).to_have_count(4)
    details = soundness(room, expected)["details"]
    for letter, kind in expected.record()["spec"]["option_kinds"].items():
        fact = page.locator(f"#option-facts .option-fact[data-letter='{letter}']")
        expect(fact).to_have_attribute("data-kind", kind)
        expect(fact.locator(".fact-kind")).to_have_text(kind)
        expect(fact.locator(".to-answer")).to_have_text(research.distance_text(details["distance_to_answer"][letter]))
        expect(fact.locator(".to-truth")).to_have_text(research.distance_text(details["distance_to_true_crop"][letter]))
    expect(page.locator(f"#option-facts .option-fact[data-letter='{expected.answer}']")).to_have_class(
        re.compile("is-answer"))
    overlay, facts = page.locator("#overlay img").bounding_box(), page.locator("#option-facts").bounding_box()
    assert facts["y"] >= overlay["y"] + overlay["height"] - 1, "under the overlay's options"

    # N seeds: the library's rates for this scene, task and controls.
    check(page, 3)
    report = check_seeds(room, "crop", 5, 3, CONTROLS)
    expect(page.locator("#seed-check li").first).to_have_text(
        f"Sound (the picture settles the answer): {research.share(checked=3, **report['sound'])}")
    expect(page.locator("#seed-check")).to_contain_text("crop_boundary")
    expect(page.locator("#seed-check")).to_contain_text("size_fraction=0.4")
    expect(page.locator("#seed-check")).to_contain_text(f"chi-square {report['answer_balance']['chi2']:.2f}")
    assert_nothing_scrolls_sideways(page, 1440)
    page.locator("#new-task").click()  # a report about the task before does not stay beside the new one
    expect(page.locator("#seed-check")).not_to_contain_text("crop_boundary")

    # The docs' picture: a clean page, the revealed crop with its option facts beside the rates of 20 seeds.
    page.goto(app_url + "?scene=room&task=crop&seed=5")
    expect(page.locator("#question")).to_contain_text("(crop, seed 5)")
    page.locator("#research").get_by_text("For researchers").click()
    check(page, 20)
    page.get_by_role("tab", name="Explained").click()
    page.locator("#reveal").click()
    expect(page.locator("#option-facts .option-fact")).to_have_count(4)
    top = page.locator("#overlay img").bounding_box()
    page.evaluate(f"window.scrollBy(0, {top['y'] + top['height'] * 0.69 + 90})")
    page.screenshot(path=str(shots / "researcher_1440x900.png"))
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_a_seed_check_is_range_checked_and_stop_keeps_its_rates(browser, app_url):
    context, page, errors = open_page(browser, 1440, 900)
    page.goto(app_url + "?scene=room&task=rotation&seed=1")
    expect(page.locator("#question")).to_contain_text("(rotation, seed 1)")
    page.locator("#research").get_by_text("For researchers").click()
    set_seed_count(page, 500)
    page.locator("#check-seeds").click()
    expect(page.locator(".toast-body")).to_contain_text("greater than maximum value 200")
    expect(page.locator("#seed-check")).not_to_contain_text("Checked")

    set_seed_count(page, 200)  # about 20 s of rotation seeds: stopped after the first rates
    page.locator("#check-seeds").click()
    expect(page.locator("#seed-check")).to_contain_text(re.compile(r"Checking… [1-9]\d* of 200"))
    page.locator("#stop-seed-check").click()
    page.wait_for_timeout(3000)
    expect(page.locator("#seed-check")).to_contain_text("Checking…")  # the rates so far stay; it went no further
    expect(page.locator("#seed-check")).not_to_contain_text("Checked")
    check(page, 2)  # the seed-check queue is free again
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_on_a_phone_nothing_scrolls_sideways_and_the_options_wrap(browser, app_url, shots):
    context, page, errors = open_page(browser, 390, 844)
    open_research(page, app_url + LINK)
    check(page, 2)
    page.locator("#download-task").click()
    expect(page.locator("#task-zip")).to_contain_text("room-crop-seed5")
    expect(page.locator("#full-link textarea, #full-link input").first).to_have_value(re.compile(r"^http://"))
    page.get_by_role("tab", name="Explained").click()
    page.locator("#reveal").click()
    expect(page.locator("#option-facts .option-fact")).to_have_count(4)
    tops = sorted({round(box["y"]) for box in (fact.bounding_box() for fact in
                                                page.locator("#option-facts .option-fact").all())})
    assert len(tops) == 2, f"the four options in two rows on a phone: {tops}"
    assert_nothing_scrolls_sideways(page, 390)
    page.locator("#research").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "researcher_phone_390x844.png"))
    page.locator("#option-facts").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "researcher_phone_options_390x844.png"))
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"

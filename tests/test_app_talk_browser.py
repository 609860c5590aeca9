"""Talk mode in a real browser (Debian's chromium, Playwright, `python app.py`; fixtures in conftest): a
`?talk=1` link in large type with the task whole on the screen, the keys, Reveal as a moment, a shared talk
and a pasted one, hostile steps shown as text. Screenshots go to the `shots` folder."""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode, urlparse

import pytest
from conftest import TIMEOUT_MS, fill_and_commit, running_app
from playwright.sync_api import Page, expect

from demo import handlers

pytestmark = pytest.mark.browser

expect.set_options(timeout=TIMEOUT_MS)

#: A laptop and a projector (the task must fit the screen without scrolling), the issue's laptop, a phone.
SIZES = {"laptop": (1280, 720), "projector": (1920, 1080), "wide": (1440, 900), "phone": (390, 844)}
#: The tour's steps as "(task, seed N)", in order: what each step's question says.
TOUR = [f"({task}, seed {seed})" for _, task, seed in handlers.PRESETS]

#: The question's own text (its second paragraph: the first says which task and seed) and its font size; the
#: model-facing images and their container; what talk mode hides and shows.
TALK_PROBE = """() => {
  const text = document.querySelectorAll('#question p')[1];
  const box = (node) => { const r = node.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top,
                          bottom: r.bottom, width: r.width, height: r.height}; };
  const shown = (selector) => { const node = document.querySelector(selector);
                                return !!node && node.getClientRects().length > 0; };
  return {questionPx: parseFloat(getComputedStyle(text).fontSize),
          talkMode: document.body.classList.contains('talk-mode'),
          images: [...document.querySelectorAll('#model-images img')].map(img => ({...box(img),
                   loaded: img.complete && img.naturalWidth > 0})),
          container: box(document.querySelector('#model-images')),
          shown: Object.fromEntries(['#banner', '#studio-controls', '#model-section', '#answer-box', '#reveal',
                                     '#talk-rail', '#talk-next', '#talk-prev'].map(s => [s, shown(s)])),
          pageOverflow: document.documentElement.scrollWidth - window.innerWidth};
}"""


def open_page(browser, width: int, height: int) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(error))
    return page


def close(page: Page) -> None:
    errors = page.errors
    page.context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def question(page: Page):
    return page.locator("#question")


def probe(page: Page) -> dict:
    page.wait_for_function("() => Array.from(document.querySelectorAll('#model-images img'))"
                           ".every(img => img.complete && img.naturalWidth > 0)")
    page.wait_for_timeout(300)  # the picture's room follows the question's height
    return page.evaluate(TALK_PROBE)


def assert_talk_view(page: Page, width: int, height: int, step: str) -> dict:
    """Large type, banner and controls hidden, the rail shown, every model-facing image inside the screen (and,
    on a landscape screen, wholly above its bottom: no scrolling) and inside its container."""
    seen = probe(page)
    assert seen["talkMode"]
    assert seen["questionPx"] >= (28 if width >= 640 else 20), f"{step}: question at {seen['questionPx']} px"
    for hidden in ("#banner", "#studio-controls", "#model-section", "#answer-box", "#reveal"):
        assert not seen["shown"][hidden], f"{hidden} is shown in talk mode"
    assert all(seen["shown"][part] for part in ("#talk-rail", "#talk-next", "#talk-prev"))
    assert seen["pageOverflow"] <= 0, f"the page scrolls sideways by {seen['pageOverflow']} px"
    box = seen["container"]
    for image in seen["images"]:
        assert image["loaded"], step
        assert 0 <= image["left"] and image["right"] <= width + 0.5, f"{step}: outside the screen {image}"
        if width > height:
            assert 0 <= image["top"] and image["bottom"] <= height + 0.5, f"{step}: below the screen {image}"
        assert box["left"] - 0.5 <= image["left"] and image["right"] <= box["right"] + 0.5, f"{step}: {image}"
        assert box["top"] - 0.5 <= image["top"] and image["bottom"] <= box["bottom"] + 0.5, f"{step}: {image}"
    return seen


@pytest.mark.parametrize("size", list(SIZES))
def test_a_talk_link_shows_every_step_in_large_type_and_wholly_on_the_screen(browser, app_url, shots, size):
    width, height = SIZES[size]
    page = open_page(browser, width, height)
    page.goto(app_url + "?talk=1")
    for number, step in enumerate(TOUR, 1):
        expect(question(page)).to_contain_text(step)
        expect(page.locator("#talk-position")).to_contain_text(f"Step {number} of {len(TOUR)}")
        seen = assert_talk_view(page, width, height, step)
        if number == 1:
            print(f"{size}: question at {seen['questionPx']} px")
        page.screenshot(path=str(shots / f"talk_{size}_{width}x{height}_{number}.png"))
        page.locator("#talk-next").click()
    expect(page).to_have_url(re.compile("talk=1"))
    close(page)


def test_keys_step_reveal_and_answer_and_never_fire_while_typing(browser, app_url, shots):
    page = open_page(browser, 1280, 720)
    page.goto(app_url + "?talk=1")
    expect(question(page)).to_contain_text(TOUR[0])
    page.keyboard.press("n")
    expect(question(page)).to_contain_text(TOUR[1])
    expect(page).to_have_url(re.compile("scene=motorcycle&task=flip&seed=5"))
    page.keyboard.press("PageDown")
    expect(question(page)).to_contain_text(TOUR[2])
    page.keyboard.press("p")
    page.keyboard.press("p")
    expect(question(page)).to_contain_text(TOUR[0])
    expect(page.locator("#talk-position")).to_contain_text("Step 1 of")

    # A key typed in a text box is the box's: the talk does not step.
    page.evaluate("""() => document.querySelector('#answer-text textarea').dispatchEvent(
                       new KeyboardEvent('keydown', {key: 'n', bubbles: true}))""")
    page.wait_for_timeout(1500)
    expect(question(page)).to_contain_text(TOUR[0])

    # Reveal as a moment: the Explained view, the answer in large type.
    page.keyboard.press("r")
    expect(page.locator("#task-views [role=tab][aria-selected=true]")).to_have_text("Explained")
    expect(page.locator("#overlay img")).to_be_visible()
    answer = page.locator("#talk-answer h2")
    expect(answer).to_have_text(re.compile(r"\d(-\d)+"))
    assert float(answer.evaluate("node => getComputedStyle(node).fontSize").removesuffix("px")) >= 40
    order = answer.inner_text().strip()
    page.screenshot(path=str(shots / "talk_revealed_1280x720.png"))

    # Typed answers are read and scored like the answer box's: a wrong order scores 0, the right one 1.
    result = page.locator("#talk-result")
    numbers = order.split("-")
    for key in numbers[1:] + numbers[:1]:
        page.keyboard.press(key)
    expect(result).to_contain_text("✘ Not right: score 0")
    for key in numbers[:-1]:
        page.keyboard.press(key)
    expect(result).to_contain_text(f"of {len(numbers)} numbers")
    page.keyboard.press(numbers[-1])
    expect(result).to_contain_text("✔ Right: score 1")
    expect(result).to_contain_text(f"as {order}")
    page.screenshot(path=str(shots / "talk_scored_1280x720.png"))

    # A letter task: one key answers (a letter, or 1-4 for A-D); a new step clears the answer.
    page.keyboard.press("n")
    page.keyboard.press("n")
    expect(question(page)).to_contain_text(TOUR[2])
    expect(result).to_have_text("")
    expect(page.locator("#talk-answer")).to_have_text("")
    page.keyboard.press("r")
    letter = re.search(r"[A-D]", page.locator("#talk-answer h2").inner_text()).group(0)
    wrong = next(other for other in "ABCD" if other != letter)
    page.keyboard.press(wrong.lower())
    expect(result).to_contain_text("✘ Not right: score 0")
    page.keyboard.press(str("ABCD".index(letter) + 1))
    expect(result).to_contain_text("✔ Right: score 1")
    page.screenshot(path=str(shots / "talk_crop_scored_1280x720.png"))
    for part in ("#talk-leave", "#talk-fullscreen", "#talk-answer h2", "#talk-result h2"):
        box = page.locator(part).bounding_box()  # revealed and scored: the rail's controls and verdict on screen
        assert box["y"] + box["height"] <= 720, f"{part} runs below the screen: {box}"

    # F asks for full screen (headless chromium grants it).
    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement !== null")
    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement === null")

    page.locator("#talk-leave").click()
    page.wait_for_function("() => !document.body.classList.contains('talk-mode')")
    expect(page.locator("#banner")).to_be_visible()
    expect(page).not_to_have_url(re.compile("talk=1"))
    page.keyboard.press("n")  # outside talk mode the keys are the page's own
    page.wait_for_timeout(1000)
    expect(question(page)).to_contain_text(TOUR[2])
    close(page)


HOSTILE = ("<img src=https://evil.example/pixel.png><a href=https://evil.example/>click</a>"
           " ![p](https://evil.example/p.png) [x](https://evil.example/)")


def test_a_shared_talk_and_a_pasted_one_show_hostile_steps_as_text(browser, app_url, shots):
    page = open_page(browser, 1280, 720)
    fetched = []
    page.on("request", lambda request: fetched.append(request.url)
            if urlparse(request.url).hostname == "evil.example" else None)
    steps = ["scene=street&task=crop&seed=3", f"scene={quote(HOSTILE)}&task=depth",
             "scene=room&task=depth&seed=42&region_size=31"]
    page.goto(app_url + "?" + urlencode({"talk": 1, "steps": "|".join(steps)}))
    expect(question(page)).to_contain_text("(crop, seed 3)")
    expect(page.locator("#talk-position")).to_contain_text("Step 1 of 2")
    status = page.locator("#task-status")
    expect(status).to_contain_text("was left out: The link names an unknown scene")
    expect(status).to_contain_text("<img src=https://evil.example/pixel.png>")
    assert_talk_view(page, 1280, 720, "shared crop")
    page.screenshot(path=str(shots / "talk_shared_hostile_1280x720.png"))
    page.keyboard.press("n")
    expect(question(page)).to_contain_text("(depth, seed 42)")
    expect(page).to_have_url(re.compile("region_size=31"))
    expect(page).to_have_url(re.compile("steps="))

    # Pasted in the box: leave talk mode, paste, use; the talk starts again with the usable steps.
    page.locator("#talk-leave").click()
    page.locator("#talk-settings").get_by_text("Talk mode").first.click()
    box = page.locator("#talk-steps textarea")
    expect(box).to_be_visible()
    fill_and_commit(page, box, f"?scene=tabletop&task=position&seed=7\n{HOSTILE}\n")
    page.locator("#talk-use-steps").click()
    expect(question(page)).to_contain_text("(position, seed 7)")
    page.wait_for_function("() => document.body.classList.contains('talk-mode')")
    expect(page.locator("#talk-position")).to_contain_text("Step 1 of 1")
    link = page.locator("#talk-link textarea, #talk-link input").first
    expect(link).to_have_value(re.compile(r"^\?talk=1&steps=scene%3Dtabletop%26task%3Dposition%26seed%3D7$"))
    page.locator("#talk-leave").click()
    expect(page.locator("#talk-notes")).to_contain_text("was left out")
    expect(page.locator("#talk-notes")).to_contain_text("<a href=https://evil.example/>click</a>")
    expect(status).to_contain_text("<a href=https://evil.example/>click</a>")  # shown above the task too
    for selector in ("a[href*='evil.example']", "img[src*='evil.example']"):
        expect(page.locator(selector)).to_have_count(0)
    assert not fetched, f"the page fetched {fetched}"
    close(page)


def test_a_talk_from_a_file_opens_in_talk_mode_at_its_first_step(browser, tmp_path_factory, shots):
    """`python app.py --talk steps.txt`: the page opens in talk mode at the file's first step; a refused line
    is said in the terminal; `?talk=0` opens the studio as usual."""
    folder = tmp_path_factory.mktemp("talk-app")
    steps = folder / "steps.txt"
    steps.write_text("# a two-step talk\n?scene=room&task=rotation&seed=2\n?scene=mars&task=depth\n"
                     "http://127.0.0.1:7860/?scene=coffee&task=flip&seed=8\n")
    with running_app(folder, "--talk", str(steps)) as (url, log):
        assert "unknown scene 'mars'" in log.read_text() and "talk: 2 steps" in log.read_text()
        page = open_page(browser, 1280, 720)
        page.goto(url)
        expect(question(page)).to_contain_text("(rotation, seed 2)")
        expect(page.locator("#talk-position")).to_contain_text("Step 1 of 2")
        assert_talk_view(page, 1280, 720, "talk file")
        page.keyboard.press("n")
        expect(question(page)).to_contain_text("(flip, seed 8)")
        page.screenshot(path=str(shots / "talk_file_1280x720.png"))
        page.goto(url + "?talk=0")
        expect(question(page)).to_contain_text("(")
        expect(page.locator("#banner")).to_be_visible()
        assert not page.evaluate("document.body.classList.contains('talk-mode')")
        close(page)

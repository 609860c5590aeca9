"""Talk mode on the page: its components (the settings under the controls, the rail beside the image), its
CSS and keys, and their wiring to `talk` (no logic of its own, like `layout`).

Talk mode is a class on the page's body (`talk-mode`), set by the toggle or a `?talk=1` link: the CSS then
hides the banner and the controls and sets the question in large type, and the keys below work.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import gradio as gr

from . import talk
from .markdown import NO_LATEX
from .studio import Studio

#: The keys, in words (the rail and docs/app.md say the same).
KEYS_HELP = "Keys: **N** next · **P** previous · **R** reveal · **A-D** or **0-9** answer · **F** full screen"

#: In talk mode the question's options stand in one line (one per line on a phone: `talk-narrow`) and its
#: small print (the 3D view's legend, the style) is left out, so the picture keeps its room. The rules are
#: `body.talk-mode ...` with `!important`: Gradio adds every custom rule a second time under
#: `.gradio-container ... .contain`, a more specific copy that a body selector cannot outweigh otherwise.
TALK_CSS = """
body:not(.talk-mode) #talk-rail { display: none !important; }
body.talk-mode #intro, body.talk-mode #banner, body.talk-mode #banner-details, body.talk-mode #studio-controls,
body.talk-mode #answer-box, body.talk-mode #human-result, body.talk-mode #reveal, body.talk-mode #spec,
body.talk-mode #soundness-panel, body.talk-mode #model-section, body.talk-mode footer { display: none !important; }
body { --talk-room: 56vh; }
body.talk-mode .gradio-container { max-width: 100% !important; }
body.talk-mode #question p { font-size: clamp(20px, 5vw, 28px) !important; line-height: 1.3 !important;
  margin: 0 0 0.35em !important; }
body.talk-mode #question p:first-child { font-size: 18px !important; color: var(--body-text-color-subdued); }
body.talk-mode #question p:has(> em:first-child) { display: none; }
body.talk-mode:not(.talk-narrow) #question p br { display: none; }
body.talk-mode:not(.talk-narrow) #question p:not(:first-child) > strong:not(:first-child) { margin-left: 0.8em; }
body.talk-mode #model-images .main img { width: min(100%, calc(var(--talk-room) * var(--ratio))) !important; }
body.talk-mode #model-images .kind-crop .main img {
  width: min(100%, calc(0.56 * var(--talk-room) * var(--ratio))) !important; }
body.talk-mode #model-images .kind-crop .option img { width: auto !important; max-width: 100%;
  max-height: calc(0.26 * var(--talk-room)); }
body.talk-mode #overlay img, body.talk-mode #depth-map img { max-height: var(--talk-room) !important;
  object-fit: contain; }
#talk-position p { font-size: 20px; margin: 0; }
#talk-result h2 { font-size: 28px; margin: 0.2em 0; }
#talk-result p { font-size: var(--text-sm); }
#talk-answer p { font-size: 20px; margin: 0; }
#talk-answer h2 { font-size: 48px; margin: 0 0 0.2em; line-height: 1.15; }
#talk-answer h2 code { font-size: 1em; background: none; border: none; padding: 0; }
#talk-help p { font-size: var(--text-sm); color: var(--body-text-color-subdued); margin: 0; }
@media (pointer: coarse) { #talk-help { display: none !important; } }  /* no keyboard on a phone or tablet */
"""

#: Run once when the page opens: talk mode at once for a `?talk=1` link (before the server answers); the room
#: the pictures have (`--talk-room`: the screen's height under the views' top, measured again whenever the
#: notes above the question, the question or the window change size, so a long question shrinks the picture
#: instead of pushing it off the screen; on a phone, where the picture comes under a long question anyway,
#: 80% of the screen's height as outside talk mode); and the keys. Keys act only in talk mode, never while
#: typing in a box, never with Ctrl/Alt/Cmd (the browser's own); PageDown/PageUp step too (what presentation
#: clickers send). Answer keys go into the hidden keys box, whose change event scores them
#: (`talk.answer_keys`).
TALK_KEYS_JS = """() => {
  if (new URLSearchParams(window.location.search).get('talk') === '1') {
    document.body.classList.add('talk-mode');
  }
  const fit = () => {
    const view = document.getElementById('task-views');
    const narrow = window.innerWidth < 640;  // changed only when it differs: the class observer calls fit too
    if (document.body.classList.contains('talk-narrow') !== narrow) {
      document.body.classList.toggle('talk-narrow', narrow);
    }
    if (!view || !document.body.classList.contains('talk-mode')) { return; }
    const top = view.getBoundingClientRect().top + window.scrollY;
    const room = window.innerWidth < 640 ? 0.8 * window.innerHeight : window.innerHeight - top - 72;
    document.body.style.setProperty('--talk-room', Math.max(room, 140) + 'px');
  };
  window.addEventListener('resize', fit);
  const watched = new ResizeObserver(fit);
  const watch = () => {
    const above = ['task-status', 'question'].map((id) => document.getElementById(id));
    if (above.every((node) => node)) { above.forEach((node) => watched.observe(node)); fit(); }
    else { setTimeout(watch, 200); }
  };
  watch();
  new MutationObserver(fit).observe(document.body, {attributes: true, attributeFilter: ['class']});
  const press = (id) => { const button = document.getElementById(id); if (button) { button.click(); } };
  document.addEventListener('keydown', (event) => {
    if (!document.body.classList.contains('talk-mode') || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement ||
        target instanceof HTMLSelectElement || (target && target.isContentEditable)) {
      return;
    }
    const key = event.key.toLowerCase();
    if (key === 'n' || key === 'pagedown') { press('talk-next'); }
    else if (key === 'p' || key === 'pageup') { press('talk-prev'); }
    else if (key === 'r') { press('talk-reveal'); }
    else if (key === 'f') { press('talk-fullscreen'); }
    else if (/^[0-9a-d]$/.test(key)) {
      const box = document.querySelector('#talk-keys textarea, #talk-keys input');
      if (!box) { return; }
      box.value += key;
      box.dispatchEvent(new Event('input', {bubbles: true}));
    } else { return; }
    event.preventDefault();
  });
}"""

#: The toggle: talk mode on or off, and `talk=1` in the address bar while it is on.
APPLY_TALK_MODE_JS = """(on) => {
  document.body.classList.toggle('talk-mode', !!on);
  const params = new URLSearchParams(window.location.search);
  if (on) { params.set('talk', '1'); } else { params.delete('talk'); }
  const search = params.toString();
  window.history.replaceState(null, '', search ? '?' + search : window.location.pathname);
  return on;
}"""

#: The talk's steps follow into the address bar (so it can be shared from there too).
SYNC_TALK_STEPS_JS = """(query) => {
  const shared = new URLSearchParams(query || '');
  const params = new URLSearchParams(window.location.search);
  if (shared.has('steps')) { params.set('steps', shared.get('steps')); } else { params.delete('steps'); }
  const search = params.toString();
  window.history.replaceState(null, '', search ? '?' + search : window.location.pathname);
  return query;
}"""

#: F and the button: full screen on, or off again.
FULLSCREEN_JS = """() => {
  if (document.fullscreenElement) { document.exitFullscreen().catch(() => {}); }
  else { document.documentElement.requestFullscreen().catch(() => {}); }
}"""


@dataclass
class TalkSettings:
    """Under the controls: the toggle, the steps box, and the talk's link."""

    toggle: gr.Checkbox
    steps_box: gr.Textbox
    use_steps: gr.Button
    notes: gr.Markdown
    link: gr.Textbox


@dataclass
class TalkRail:
    """Beside the image in talk mode: where the talk is, Previous / Next, Reveal, the answer by key."""

    position: gr.Markdown
    previous: gr.Button
    next: gr.Button
    reveal: gr.Button
    keys: gr.Textbox
    result: gr.Markdown
    answer: gr.Markdown
    fullscreen: gr.Button
    leave: gr.Button


def settings(studio: Studio, steps: list[str], talk_on: bool) -> TalkSettings:
    """The talk settings accordion (in the controls column)."""
    with gr.Accordion("Talk mode", open=talk_on, elem_id="talk-settings"):
        # Off until the page opens: `talk.open_page` turns it on, and only a change runs APPLY_TALK_MODE_JS.
        toggle = gr.Checkbox(False, label="Talk mode: large type, banner and controls hidden, steps beside the "
                                            "image", info=KEYS_HELP.replace("*", ""), elem_id="talk-toggle")
        steps_box = gr.Textbox(talk.steps_text(steps), lines=4, max_lines=12, elem_id="talk-steps",
                               label="Steps of the talk: one permalink per line",
                               info="paste permalinks (e.g. ?scene=room&task=depth&seed=42), then Use these steps")
        use_steps = gr.Button("Use these steps", elem_id="talk-use-steps")
        notes = gr.Markdown(elem_id="talk-notes", latex_delimiters=NO_LATEX)
        link = gr.Textbox(talk.talk_link(studio, steps), label="This talk as a link (add it to the app's address)",
                          interactive=False, buttons=["copy"], elem_id="talk-link")
    return TalkSettings(toggle, steps_box, use_steps, notes, link)


def rail() -> TalkRail:
    """The talk rail (hidden outside talk mode by TALK_CSS)."""
    with gr.Column(scale=1, min_width=260, elem_id="talk-rail"):
        position = gr.Markdown(elem_id="talk-position", latex_delimiters=NO_LATEX)
        with gr.Row():
            previous = gr.Button("◀ Previous", elem_id="talk-prev", min_width=100)
            next_step = gr.Button("Next ▶", variant="primary", elem_id="talk-next", min_width=100)
        reveal = gr.Button("Reveal (R)", elem_id="talk-reveal")
        # The controls above what grows (the answer, the result), so a long result never pushes them off screen.
        with gr.Row():
            fullscreen = gr.Button("Full screen (F)", size="sm", elem_id="talk-fullscreen", min_width=100)
            leave = gr.Button("Leave talk mode", size="sm", elem_id="talk-leave", min_width=100)
        gr.Markdown(KEYS_HELP, elem_id="talk-help")
        keys = gr.Textbox(visible="hidden", elem_id="talk-keys")
        answer = gr.Markdown(elem_id="talk-answer", latex_delimiters=NO_LATEX)
        result = gr.Markdown(elem_id="talk-result", latex_delimiters=NO_LATEX)
    return TalkRail(position, previous, next_step, reveal, keys, result, answer, fullscreen, leave)


def wire(demo: gr.Blocks, studio: Studio, page: TalkSettings, side: TalkRail, steps: gr.State, index: gr.State, *,
         opens: list, then_render, show_controls, groups: list, task_view: list, current, mode, question,
         views: gr.Tabs, reveal_outputs: list) -> None:
    """Connect talk mode: `opens` are the outputs of `handlers.from_query` (a step opens like a permalink),
    `then_render(event)` chains the controls and the render after it; Previous / Next do all of it in one
    event (`talk.go_and_render` with `show_controls` into `groups`, the task into `task_view`), and a press
    while one runs waits for it (trigger_mode="always_last")."""
    quiet = {"api_visibility": "undocumented"}
    demo.load(None, None, None, js=TALK_KEYS_JS)
    page.toggle.change(None, page.toggle, None, js=APPLY_TALK_MODE_JS)
    side.leave.click(lambda: False, None, page.toggle, **quiet)
    page.link.change(None, page.link, None, js=SYNC_TALK_STEPS_JS)
    side.fullscreen.click(None, None, None, js=FULLSCREEN_JS)
    for button, delta in ((side.next, 1), (side.previous, -1)):
        button.click(partial(talk.go_and_render, studio, show_controls, delta=delta), [steps, index],
                     [index, side.position, views, *opens, *groups, *task_view], trigger_mode="always_last",
                     show_progress="minimal", concurrency_limit=studio.task_concurrency, concurrency_id="tasks",
                     **quiet)
    then_render(page.use_steps.click(partial(talk.use_steps, studio), page.steps_box,
                                     [steps, index, side.position, page.notes, page.link, page.toggle, *opens],
                                     **quiet))
    side.reveal.click(partial(talk.reveal_moment, studio), current, [*reveal_outputs, views, side.answer], **quiet)
    # .change, not .input: Gradio's Textbox sends its input event on key presses in the box itself.
    side.keys.change(talk.answer_keys, [current, side.keys, mode], [side.keys, side.result], show_progress="hidden",
                     **quiet)
    question.change(lambda: ("", "", ""), None, [side.keys, side.result, side.answer], **quiet)

"""What a researcher gets beyond the visitor's page: the current task as a zip (the files `spatial-ssrl
generate` writes, from `Task.zip_bytes`), the full link, each crop option's kind and distances once revealed,
and the soundness and shortcut rates over N seeds (`analysis.audit.SeedCheck`), bounded in seeds and time so
that one visitor cannot exhaust a public Space.

`build` lays the components out where `layout.build_demo` calls it; `wire` connects them once the page's
other components exist. The handlers are plain functions of their inputs, like `handlers`."""

from __future__ import annotations

import os
import re
import threading
import time
from functools import partial
from types import SimpleNamespace

import gradio as gr

from spatial_ssrl.analysis.audit import SeedCheck
from spatial_ssrl.analysis.quality import DISTANCE, soundness
from spatial_ssrl.tasks import ControlError, kind_of
from spatial_ssrl.tasks.controls import shown
from spatial_ssrl.tasks.crop import KIND_CAPTIONS

from . import handlers
from .markdown import NO_LATEX, cell, code
from .studio import Studio
from .view import Current

#: Seeds one "Check N seeds" may ask for, and the default.
MIN_SEEDS, MAX_SEEDS, DEFAULT_SEEDS = 1, 200, 20
#: Wall time one seed check may run (200 crop or rotation seeds take 20-30 s on two shared cores); it
#: stops before the next seed past this and reports the seeds it checked.
SEED_CHECK_SECONDS = 30.0
#: How often a running seed check shows its rates so far.
PROGRESS_SECONDS = 1.0

#: Under the revealed crop overlay: each option's letter, kind and distances, as the overlay's option strip
#: orders them (a row; two rows on a phone). Handlebars escapes every value.
OPTION_FACTS_TEMPLATE = """
{{#if value}}
<div class="option-facts">
  {{#each value.options}}
  <div class="option-fact{{#if this.answer}} is-answer{{/if}}" data-letter="{{this.letter}}" data-kind="{{this.kind}}"
       title="{{this.caption}}">
    <div class="fact-head"><b>{{this.letter}}</b> <code class="fact-kind">{{this.kind}}</code>{{#if this.answer}} ✔{{/if}}</div>
    <div class="fact-distance">to the answer: <span class="to-answer">{{this.to_answer}}</span></div>
    <div class="fact-distance">to the true missing part: <span class="to-truth">{{this.to_truth}}</span></div>
  </div>
  {{/each}}
</div>
<p class="option-facts-note">Distance: {{value.distance}}</p>
{{/if}}
"""
CSS = """
#option-facts .option-facts { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 8px; }
#option-facts .option-fact { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 6px 8px;
                             font-size: var(--text-sm); overflow-wrap: anywhere; }
#option-facts .option-fact.is-answer { border: 2px solid #16a34a; }
#option-facts .fact-head b { font-size: var(--text-lg); margin-right: 4px; }
#option-facts .fact-kind { font-size: var(--text-xs); }
#option-facts .option-facts-note { font-size: var(--text-xs); color: var(--body-text-color-subdued); margin: 6px 0 0; }
#seed-check table { font-size: var(--text-sm); }
#seed-check th, #seed-check td { padding: 4px 8px; }
@media (max-width: 640px) {
  #option-facts .option-facts { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  #seed-check table { font-size: var(--text-xs); }
  #seed-check th, #seed-check td { padding: 3px 4px; overflow-wrap: normal; }
}
"""
#: The absolute permalink: this page's origin and path with the task's query (not the address bar's, which
#: may hold Gradio's own keys). Shown as a textbox value: text, never markup.
FULL_LINK = """(query) => query ? window.location.origin + window.location.pathname + query : ''"""
#: Copy the shown full link; say whether the browser let us (outside https or localhost it may not).
COPY_FULL_LINK = """async (link) => {
  if (!link) { return [link, 'This task has no link: an uploaded scene cannot be linked.']; }
  try {
    await navigator.clipboard.writeText(link);
    return [link, 'Copied to the clipboard.'];
  } catch (error) {
    return [link, 'The browser did not allow copying: select the link above and copy it.'];
  }
}"""
#: After the zip is built, start its download (the file's own link stays for a second try).
START_DOWNLOAD = """() => { document.querySelector('#task-zip a[download]')?.click(); }"""


# ------------------------------------------------------------------------------------------ download

def safe_name(value: str) -> str:
    """A file name part from a scene name (an upload's can hold anything): letters, digits, '-', '_', '.'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", value).strip("._")[:60] or "scene"


def task_zip(studio: Studio, current: Current | None) -> tuple:
    """*Download task*: (the zip file, a note). The zip holds a folder with exactly what `spatial-ssrl generate
    --out FOLDER` writes for this task (`Task.zip_bytes`), built once in the task's folder of the capped file
    cache, and the same bytes every time."""
    if current is None:
        return gr.update(value=None, visible=False), "Generate a task first."
    task = current.task
    name = f"{safe_name(current.scene.name)}-{task.task}-seed{task.seed}"
    path = studio.task_dir(current.scene, task.task, task.seed, task.controls) / f"{name}.zip"
    if not path.exists():
        partial_path = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.part")
        partial_path.write_bytes(task.zip_bytes(name))
        partial_path.replace(path)
    # An update, not gr.File(...): a File built here would copy the zip into Gradio's cache at once; the
    # update is served from where it lies (the cache folder is inside Gradio's own).
    return gr.update(value=str(path), visible=True), ""


# ------------------------------------------------------------------------------------- option facts

def option_facts(current: Current | None, revealed: str | None) -> dict | None:
    """Each crop option's letter, kind (the task record's `option_kinds`) and distances to the answer and to
    the true missing part (`quality.soundness`, as the soundness panel has them), once the answer is
    revealed; None before Reveal and for the other tasks."""
    if current is None or current.task.task != "crop" or not (revealed or "").strip():
        return None
    details = soundness(current.scene, current.task)["details"]
    return {"distance": DISTANCE, "options": [
        {"letter": letter, "kind": kind, "caption": KIND_CAPTIONS[kind], "answer": letter == current.task.answer,
         "to_answer": distance_text(details["distance_to_answer"][letter]),
         "to_truth": distance_text(details["distance_to_true_crop"][letter])}
        for letter, kind in details["option_kinds"].items()]}


def distance_text(value: float) -> str:
    """A picture distance as the soundness panel writes it (three significant digits)."""
    return f"{value:.3g}"


# ---------------------------------------------------------------------------------------- seed check

def seed_count(value) -> tuple[int | None, str]:
    """(N, "") for a whole number of seeds from MIN_SEEDS to MAX_SEEDS, else (None, what is accepted)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is not None and number.is_integer() and MIN_SEEDS <= number <= MAX_SEEDS:  # NaN: not an integer
        return int(number), ""
    return None, (f"⚠ The number of seeds must be a whole number from {MIN_SEEDS} to {MAX_SEEDS}; got "
                  f"{cell(shown(value))}.")


def check_seeds(scene, task_name: str, seed, n, mode: str, *values):
    """*Check N seeds*: the soundness checks and shortcut answerers over N seeds of the page's scene, task, seed
    and controls (`SeedCheck`), scored in the page's verifier mode; from the form, not the shown task, so it
    also runs when the seed in the box gave no task. Yields the rates so far every PROGRESS_SECONDS (so Stop
    keeps them) and stops after SEED_CHECK_SECONDS."""
    if scene is None:
        yield "⚠ Choose a shipped scene or upload one first."
        return
    count, problem = seed_count(n)
    if problem:
        yield problem
        return
    seed, seed_note = handlers.valid_seed(seed)
    if seed_note:
        yield f"⚠ {seed_note}"
        return
    try:
        check = SeedCheck(scene, task_name, seed, count, handlers.controls_for(task_name, values), mode)
    except (ControlError, ValueError) as error:
        yield f"⚠ {cell(error)}"
        return
    shown_at = time.monotonic()
    yield seed_check_markdown(check.report(), running=True)
    for _ in check.run(SEED_CHECK_SECONDS):
        if time.monotonic() - shown_at >= PROGRESS_SECONDS:
            shown_at = time.monotonic()
            yield seed_check_markdown(check.report(), running=True)
    yield seed_check_markdown(check.report(), running=False)


def share(count: int, checked: int, rate: float | None, ci95, **_) -> str:
    """'k of n: 12.3% (5–30%)', a share of the `checked` with its 95% interval (no rate when none were);
    other keys of a report's entry (`failed_checks`) are ignored."""
    if rate is None:
        return f"{count} of {checked}"
    return f"{count} of {checked}: {rate:.1%} ({ci95[0]:.0%}–{ci95[1]:.0%})"


def seed_check_markdown(report: dict, running: bool) -> str:
    """A `SeedCheck.report` for the page: which seeds, how many and how fast; the shares with no task, sound
    and ambiguous (with reasons); each shortcut's accuracy against chance; the answers' balance."""
    task, checked, requested = report["task"], report["checked"], report["requested"]
    defaults = {control.name: control.default for control in kind_of(task).controls}
    changed = {name: value for name, value in report["controls"].items() if defaults.get(name) != value}
    controls = code(", ".join(f"{name}={value}" for name, value in changed.items())) if changed else "default"
    if running:
        status = f"*Checking… {checked} of {requested} seeds so far ({report['seconds']:.1f} s).*"
    elif report["stopped_at_time_limit"]:
        status = (f"⚠ **Stopped at the time limit** ({SEED_CHECK_SECONDS:g} s): {checked} of {requested} seeds "
                  f"checked in {report['seconds']:.1f} s. Ask for fewer, or run `spatial-ssrl audit`.")
    else:
        status = f"Checked **{checked} of {requested}** seeds in {report['seconds']:.1f} s."
    generated, unavailable = report["n"], report["unavailable_rate"]
    ambiguity, sound = report["ambiguity"], report["sound"]
    lines = [f"### {cell(report['scene'])} · {task} over {requested} seeds",
             (f"{status} Seed i is derive_seed({report['seed']}, i)"
              + (f", as `generate --count {requested} --seed {report['seed']}` draws them" if requested > 1 else "")
              + f"; controls: {controls}; verifier: {report['mode']}."),
             "", f"- **Sound** (the picture settles the answer): {share(checked=generated, **sound)}",
             f"- **Ambiguous** (a soundness check failed): {share(checked=generated, **ambiguity)}",
             f"- **No task** (the generator refused the seed): {share(checked=checked, **unavailable)}"]
    if report["unavailable_reasons"]:
        lines += ["", "Why no task: " + "; ".join(f"{cell(reason)} ({count})"
                                                  for reason, count in report["unavailable_reasons"].items())]
    if ambiguity["failed_checks"]:
        lines += ["", "Failed checks: " + "; ".join(f"{cell(name)} ({count})"
                                                   for name, count in ambiguity["failed_checks"].items())]
    if not generated:
        return "\n".join(lines)
    lines += ["", f"#### Shortcut answerers (chance {report['chance']:.1%})",
              "| answerer | right (95% interval) | vs chance |", "| --- | --- | --- |"]
    for name, result in report["baselines"].items():
        verdict = ("**far above**" if result["far_above_chance"] else "far below" if result["far_below_chance"]
                   else "near")
        right = share(result["correct"], generated, result["accuracy"], result["ci95"])
        lines.append(f"| `{name}` | {right} | {verdict} |")
    balance = report["answer_balance"]
    counts = ", ".join(f"{cell(answer)} {count}" for variant in balance["counts"].values()
                       for answer, count in variant.items())
    if balance["p"] is not None:
        rough = " (approximate: under 5 expected per answer)" if balance["min_expected_count"] < 5 else ""
        lines += ["", (f"**Answer balance**: chi-square {balance['chi2']:.2f}, {balance['dof']} degrees of freedom, "
                       f"p = {balance['p']:.3g}{rough}. Answers: {counts}.")]
    lines += ["", "Shares with their 95% intervals; *far*: the whole interval lies over 10 points from chance."]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- layout

def option_facts_view() -> gr.HTML:
    """The option facts' place: under the overlay in the Explained view (empty until Reveal)."""
    return gr.HTML(None, html_template=OPTION_FACTS_TEMPLATE, js_on_load=None, apply_default_css=False,
                   elem_id="option-facts")


def build() -> SimpleNamespace:
    """The researcher's section (check N seeds, download, full link), collapsed; its components by name."""
    with gr.Accordion("For researchers: check N seeds, download the task, full link", open=False,
                      elem_id="research"):
        with gr.Row():
            seeds = gr.Number(value=DEFAULT_SEEDS, minimum=MIN_SEEDS, maximum=MAX_SEEDS, precision=0, step=1,
                              label=f"N ({MIN_SEEDS} to {MAX_SEEDS})", elem_id="seed-count", scale=2, min_width=120)
            check = gr.Button("Check N seeds", variant="primary", elem_id="check-seeds", scale=2, min_width=140)
            stop = gr.Button("Stop", elem_id="stop-seed-check", scale=1, min_width=80)
        report = gr.Markdown(elem_id="seed-check", latex_delimiters=NO_LATEX)
        with gr.Row(equal_height=True):
            download = gr.Button("Download task (.zip)", elem_id="download-task", min_width=160)
            copy = gr.Button("Copy full link", elem_id="copy-full-link", min_width=140)
        note = gr.Markdown(elem_id="research-note", latex_delimiters=NO_LATEX)
        zip_file = gr.File(label="Task zip (task.json and its images, as spatial-ssrl generate writes them)",
                           visible=False, interactive=False, elem_id="task-zip")
        full_link = gr.Textbox(label="Full link", interactive=False, elem_id="full-link", max_lines=3)
        copied = gr.Markdown(elem_id="full-link-note", latex_delimiters=NO_LATEX)
    return SimpleNamespace(download=download, copy=copy, note=note, zip_file=zip_file, full_link=full_link,
                           copied=copied, seeds=seeds, check=check, stop=stop, report=report)


def wire(studio: Studio, parts: SimpleNamespace, facts: gr.HTML, *, current: gr.State, link: gr.Textbox,
         revealed: gr.Markdown, mode: gr.Radio, form: list) -> None:
    """Connect the researcher's section and the option facts to the page's task, link, Reveal and mode; `form`
    is [scene state, task name, seed, *every control component] (what the seed check reads)."""
    hidden = {"api_visibility": "undocumented"}
    parts.download.click(partial(task_zip, studio), current, [parts.zip_file, parts.note], **hidden).success(
        None, None, None, js=START_DOWNLOAD)
    link.change(None, link, parts.full_link, js=FULL_LINK)
    parts.copy.click(None, parts.full_link, [parts.full_link, parts.copied], js=COPY_FULL_LINK)
    # A new task: the previous zip, copy note and seed-check report go (they were about the task before).
    current.change(lambda: (gr.update(value=None, visible=False), "", "", ""), None,
                   [parts.zip_file, parts.note, parts.copied, parts.report], **hidden)
    # The option facts follow the task and its Reveal.
    for trigger in (current.change, revealed.change):
        trigger(option_facts, [current, revealed], facts, **hidden)
    # One seed check at a time in the whole app (its own queue: task generation keeps its four), each capped
    # in seeds and seconds; Stop ends it between seeds and keeps the rates so far.
    scene, task_name, seed, *controls = form
    checking = parts.check.click(check_seeds, [scene, task_name, seed, parts.seeds, mode, *controls], parts.report,
                                 concurrency_limit=1, concurrency_id="seed-check", show_progress="minimal", **hidden)
    parts.stop.click(None, None, None, cancels=[checking])

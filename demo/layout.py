"""The one Blocks builder: lays out components and wires them to `handlers` (no logic of its own)."""

from __future__ import annotations

from functools import partial

import gradio as gr

from spatial_ssrl.models.decoding import GROUP_SIZE, GROUP_TEMPERATURE
from spatial_ssrl.tasks import TASK_NAMES

from . import api, files, formatting, handlers, research, talk, talk_page
from .markdown import NO_LATEX
from .studio import Studio
from .view import TaskView

TITLE = "Spatial-SSRL studio"
INTRO = (
    "# Spatial-SSRL studio\n"
    "Pick a scene, pick one of the self-supervised spatial tasks of "
    "[Spatial-SSRL](https://arxiv.org/abs/2510.27606), look at what the model sees and why the answer is what "
    "it is, answer it yourself, and watch the model answer; every answer is scored by the reward that trained "
    "the model.")
#: The task views' names, short enough to share a phone's width (no view behind an overflow menu).
TAB_NAMES = {"images": "Model input", "overlay": "Explained", "depth": "Depth", "points": "3D"}
#: "Model input": exactly what the model sees, each image whole at the column's width (never clipped by a
#: widget's box); for crop the picture with the hole, then options A-D in a row (two rows on a phone), each
#: with its letter under it. Its value is `files.model_view`; Handlebars escapes every caption.
MODEL_VIEW_TEMPLATE = """
{{#if value}}
<div class="model-input kind-{{value.kind}}">
  <figure class="main" style="--ratio: {{value.main.ratio}}">
    <img src="{{value.main.image.url}}" width="{{value.main.width}}" height="{{value.main.height}}"
         alt="{{value.main.caption}}">
    <figcaption>{{value.main.caption}}</figcaption>
  </figure>
  {{#if value.options.length}}
  <div class="options">
    {{#each value.options}}
    <figure class="option" data-letter="{{this.letter}}">
      <img src="{{this.image.url}}" width="{{this.width}}" height="{{this.height}}" alt="{{this.caption}}">
      <figcaption><b>{{this.letter}}</b></figcaption>
    </figure>
    {{/each}}
  </div>
  {{/if}}
</div>
{{else}}
<p class="model-input-empty">No task yet: pick a scene and a task.</p>
{{/if}}
"""
CSS = """
#banner { border-left: 4px solid #d97706; padding-left: 0.75em; }
#banner p { margin: 0; }
#task-status:empty, #human-result:empty { display: none; }
#model-images .model-input { display: flex; flex-direction: column; gap: 14px; }
#model-images figure { margin: 0; min-width: 0; display: flex; flex-direction: column; align-items: center; }
#model-images img { display: block; max-width: 100%; height: auto; }
#model-images .main img { width: min(100%, calc(80vh * var(--ratio))); }
#model-images .kind-crop .main img { width: min(100%, calc(40vh * var(--ratio))); }
#model-images figcaption { margin-top: 4px; font-size: var(--text-sm); color: var(--body-text-color-subdued);
                           text-align: center; }
#model-images .options { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 12px; }
#model-images .option img { width: 100%; border: 1px solid var(--border-color-primary); }
#model-images .option figcaption { font-size: var(--text-lg); color: var(--body-text-color); }
#model-images .model-input-empty { color: var(--body-text-color-subdued); }
#tab-depth:has(#depth-note p) #depth-map, #tab-points:has(#points-note p) #points { display: none; }
#model-buttons { flex-wrap: wrap; align-items: center; }
#model-off { flex: 2 1 260px !important; min-width: 260px !important; }
#model-off p { margin: 0; color: var(--body-text-color-subdued); }
#scene-gallery .caption-label { font-size: var(--text-xs); max-width: calc(100% - 8px); white-space: normal;
                                line-height: 1.25; }
@media (max-width: 640px) {
  #model-images .options { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  #task-views .tab-container button { padding: 0 10px; }
}
.prose table { display: block; max-width: 100%; overflow-x: auto; }
"""
#: A link restores the task: the address bar follows the permalink without reloading the page; with no
#: permalink (an upload) it drops the previous one, keeping only Gradio's own keys (theme, language, view) and
#: a talk's (talk, steps).
SYNC_ADDRESS_BAR = """(query) => {
  const kept = new URLSearchParams(window.location.search);
  const next = new URLSearchParams(query || '');
  for (const key of ['view', 'lang', '__theme', 'talk', 'steps']) {
    if (kept.has(key) && !next.has(key)) { next.set(key, kept.get(key)); }
  }
  const search = next.toString();
  window.history.replaceState(null, '', search ? '?' + search : window.location.pathname);
  return query;
}"""
#: Enter in a slider's number box (Gradio marks it data-testid="number-input") applies it: Gradio sends a
#: slider's value (its `release` event) when that box loses focus, and Enter alone does not. Number boxes
#: have their own `.submit` (the Seed's applies it).
ENTER_APPLIES = """() => {
  document.addEventListener('keydown', (event) => {
    const box = event.target;
    if (event.key === 'Enter' && box instanceof HTMLInputElement && box.dataset.testid === 'number-input') {
      box.blur();
    }
  });
}"""


def build_demo(studio: Studio, talk_steps: list[str] | None = None) -> gr.Blocks:
    """The whole app for one Studio; each visitor's scene and task live in gr.State. `talk_steps` (checked
    permalinks, `talk.read_steps`) are a speaker's talk: the page then opens in talk mode at its first step;
    without them, talk mode (a toggle, or `?talk=1`) steps through the built-in tour."""
    talk_on = bool(talk_steps)
    talk_steps = talk_steps or talk.tour(studio)
    status = studio.status()
    layout = handlers.control_layout()
    entries = studio.shipped()
    default_task = TASK_NAMES[0]
    with gr.Blocks(title=TITLE, delete_cache=(1800, 3600)) as demo:
        scene_state = gr.State(None)
        current = gr.State(None)
        link_notes = gr.State([])
        steps, step_index = gr.State(talk_steps), gr.State(0)
        gr.Markdown(INTRO, elem_id="intro")
        gr.Markdown(status.headline(), elem_id="banner")
        with gr.Accordion("Details: what runs here, and how to enable the rest", open=False,
                          elem_id="banner-details"):
            gr.Markdown(status.banner(), elem_id="banner-text")

        with gr.Row():
            with gr.Column(scale=2, min_width=300, elem_id="studio-controls"):
                with gr.Tab("Shipped scenes"):
                    gallery = gr.Gallery(value=[(str(studio.thumbnail(entry["name"])), gallery_caption(entry))
                                                for entry in entries],
                                         columns=3, height=330, allow_preview=False, show_label=False,
                                         elem_id="scene-gallery")
                    scene_name = gr.Dropdown([entry["name"] for entry in entries], label="Scene",
                                             elem_id="scene-name")
                with gr.Tab("Upload your own", elem_id="upload-tab"):
                    rgb_file = gr.File(label="RGB image (PNG, JPEG, WebP, ...)", elem_id="upload-rgb")
                    depth_file = gr.File(label="Depth map (optional: .npy, .npz, .h5, 16-bit PNG, TIFF, PFM)",
                                         elem_id="upload-depth")
                    mask_file = gr.File(label="Depth validity mask (optional)", elem_id="upload-mask")
                    with gr.Row():
                        # A Textbox, not a Number: Gradio draws an empty Number as 0, and blank means "as stored".
                        depth_scale = gr.Textbox(label="Depth scale (optional)", elem_id="depth-scale",
                                                 placeholder="blank: as stored; e.g. 0.001",
                                                 info="multiplies stored depth; 16-bit PNG defaults to mm -> m")
                        estimate = gr.Checkbox(label="Estimate depth when none is uploaded",
                                               interactive=status.can_estimate, elem_id="estimate-depth",
                                               info=f"model: {studio.depth_model}" if status.can_estimate else
                                               f"off here: the depth model {studio.depth_model} cannot load "
                                               "(see Details at the top)")
                    use_upload = gr.Button("Use this upload", elem_id="use-upload")
                scene_info = gr.Markdown(elem_id="scene-info", latex_delimiters=NO_LATEX)

                task_name = gr.Radio(list(TASK_NAMES), value=default_task, label="Task", elem_id="task-name")
                with gr.Row(equal_height=True):
                    seed = gr.Number(label="Seed", value=0, precision=0, elem_id="seed", scale=2,
                                     info=f"0 to {handlers.MAX_SEED}")
                    new_task = gr.Button("New task", variant="primary", elem_id="new-task", scale=1)
                groups, controls = [], []
                for task in TASK_NAMES:
                    with gr.Accordion(f"{task} controls", open=False, visible=task == default_task) as group:
                        for owner, control in layout:
                            if owner == task:
                                controls.append(control_component(task, control))
                    groups.append(group)
                researcher = research.build()
                presets = gr.Examples([list(preset) for preset in handlers.PRESETS], [scene_name, task_name, seed],
                                      label="Steps for a talk", examples_per_page=10, elem_id="presets",
                                      example_labels=[f"{number}. {talk.step_label(step)}"
                                                      for number, step in enumerate(talk.tour(studio), 1)])
                link = gr.Textbox(label="Permalink (this query string rebuilds the task for anyone)",
                                  interactive=False, elem_id="permalink", buttons=["copy"])
                talk_settings = talk_page.settings(studio, talk_steps, talk_on)

            with gr.Column(scale=3, min_width=300):
                status_box = gr.Markdown(elem_id="task-status", latex_delimiters=NO_LATEX)
                question = gr.Markdown(elem_id="question", latex_delimiters=NO_LATEX)
                with gr.Row(elem_id="talk-stage"):  # the talk rail beside the views in talk mode
                    with gr.Column(scale=3, min_width=300), gr.Tabs(elem_id="task-views") as views:
                        with gr.Tab(TAB_NAMES["images"], id="images", elem_id="tab-images"):
                            images = gr.HTML(None, html_template=MODEL_VIEW_TEMPLATE, js_on_load=None,
                                             apply_default_css=False, elem_id="model-images")
                        with gr.Tab(TAB_NAMES["overlay"], id="overlay", elem_id="tab-overlay"):
                            overlay = gr.Image(type="filepath", format="png", show_label=False, elem_id="overlay")
                            option_facts = research.option_facts_view()
                        with gr.Tab(TAB_NAMES["depth"], id="depth", elem_id="tab-depth"):
                            depth_note = gr.Markdown(elem_id="depth-note", latex_delimiters=NO_LATEX)
                            depth_view = gr.Image(type="filepath", format="png", show_label=False,
                                                  elem_id="depth-map")
                        with gr.Tab(TAB_NAMES["points"], id="points", elem_id="tab-points") as points_tab:
                            points_note = gr.Markdown(elem_id="points-note", latex_delimiters=NO_LATEX)
                            points = gr.Model3D(label="Point cloud (drag to turn, scroll to zoom)", height=460,
                                                camera_position=(105, 75, None), elem_id="points")
                    talk_rail = talk_page.rail()

                with gr.Group(elem_id="answer-box"):
                    choice = gr.Radio([], label="Your answer", visible=False, elem_id="answer-choice")
                    answer_text = gr.Textbox(label="Your answer", visible=True, elem_id="answer-text")
                    with gr.Row(equal_height=True):
                        mode = gr.Radio(["strict", "lenient"], value="strict", label="Verifier mode",
                                        info="strict: the reference reward bit for bit; lenient: accepts obvious "
                                             "equivalents such as \\boxed{A. Left}", elem_id="verifier-mode",
                                        min_width=220)
                        score_button = gr.Button("Score my answer", elem_id="score-answer", min_width=160)
                human_result = gr.Markdown(elem_id="human-result", latex_delimiters=NO_LATEX)

                reveal_button = gr.Button("Reveal the answer", elem_id="reveal")
                revealed = gr.Markdown(elem_id="revealed", latex_delimiters=NO_LATEX)
                spec = gr.JSON(label="Spec (everything the generator sampled)", open=True, visible=False,
                               elem_id="spec")
                with gr.Accordion("Is this a fair task? Soundness and shortcuts", open=True, visible=False,
                                  elem_id="soundness-panel") as soundness_panel:
                    soundness_text = gr.Markdown(elem_id="soundness", latex_delimiters=NO_LATEX)
                    baselines_button = gr.Button("Try the shortcut answerers", elem_id="run-baselines")
                    baselines_text = gr.Markdown(elem_id="baselines", latex_delimiters=NO_LATEX)

                runs = status.can_run  # the model buttons are off, with the reason beside them, when nothing can load
                with gr.Accordion("The model", open=True, elem_id="model-section"):
                    with gr.Accordion("Generation settings", open=False):
                        max_new_tokens = gr.Slider(16, 4096, value=1024, step=16, label="Max new tokens")
                        temperature = gr.Slider(0.0, 2.0, value=0.0, step=0.05, label="Temperature (0 = greedy)")
                        top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p")
                        gen_seed = gr.Number(label="Sampling seed (-1 = random)", value=-1, precision=0)
                        instruction = gr.Checkbox(value=True, label="Append the training format instruction "
                                                                    "(<think> ... </think> then \\boxed{})")
                    with gr.Row(elem_id="model-buttons"):  # the reason beside the buttons, or under them on a phone
                        run_button = gr.Button("Run model", variant="primary" if runs else "secondary",
                                               interactive=runs, elem_id="run-model", scale=1, min_width=150)
                        stop_button = gr.Button("Stop", interactive=runs, elem_id="stop-model", scale=1, min_width=80)
                        if not runs:
                            gr.Markdown(status.model_off_reason(), elem_id="model-off", scale=2, min_width=260)
                    chat = gr.Chatbot(label="Model answer", height=360 if runs else 120, elem_id="chat",
                                      buttons=["copy"])
                    reward = gr.Markdown(elem_id="reward", latex_delimiters=NO_LATEX)
                    with gr.Row(equal_height=True):
                        group_size = gr.Slider(2, 16, value=GROUP_SIZE, step=1, label="Group size")
                        group_temperature = gr.Slider(0.1, 2.0, value=GROUP_TEMPERATURE, step=0.05,
                                                      label="Group temperature (training: 1.0)")
                        group_button = gr.Button("Sample a group", interactive=runs, elem_id="sample-group")
                    if not runs:
                        gr.Markdown(status.model_off_reason(), elem_id="group-off")
                    group_table = gr.Dataframe(headers=["#", "extracted", "format", "accuracy", "reward",
                                                        "advantage", "response (start)"],
                                               interactive=False, elem_id="group-table")
                    group_summary = gr.Markdown(elem_id="group-summary", latex_delimiters=NO_LATEX)

        # ------------------------------------------------------------------------------- wiring
        named = {"current": current, "images": images, "question": question, "status": status_box, "overlay": overlay,
                 "depth": depth_view, "points": points, "depth_note": depth_note, "points_note": points_note,
                 "choice": choice, "text": answer_text, "revealed": revealed,
                 "spec": spec, "link": link, "chat": chat, "reward": reward, "group_table": group_table,
                 "group_summary": group_summary, "human": human_result, "soundness_panel": soundness_panel,
                 "soundness": soundness_text, "baselines": baselines_text, "seed": seed}
        task_view = [named[name] for name in TaskView.names()]
        task_inputs = [scene_state, task_name, seed, *controls]
        queue = {"concurrency_limit": studio.task_concurrency, "concurrency_id": "tasks",
                 "api_visibility": "undocumented", "show_progress": "minimal"}
        render = dict(fn=partial(handlers.render_task, studio), inputs=task_inputs, outputs=task_view, **queue)

        def pick_from_gallery(evt: gr.SelectData):
            name = entries[evt.index]["name"]
            return (*handlers.pick_shipped(studio, name), name)

        gallery.select(pick_from_gallery, None, [scene_state, scene_info, scene_name],
                       api_visibility="undocumented").then(**render)
        scene_name.input(partial(handlers.pick_shipped, studio), scene_name, [scene_state, scene_info],
                         api_visibility="undocumented").then(**render)
        upload = dict(fn=partial(handlers.upload_and_render, studio),
                      inputs=[scene_state, rgb_file, depth_file, mask_file, depth_scale, estimate, task_name, seed,
                              *controls], outputs=[scene_state, scene_info, *task_view], **queue)
        use_upload.click(**upload)
        depth_scale.submit(**upload)
        task_name.input(show_controls, task_name, groups, api_visibility="undocumented").then(**render)
        new_task.click(handlers.new_seed, None, seed, api_visibility="undocumented").then(**render)
        presets.load_input_event.then(partial(handlers.pick_shipped, studio), scene_name, [scene_state, scene_info],
                                      api_visibility="undocumented").then(
            show_controls, task_name, groups, api_visibility="undocumented").then(**render)
        seed.submit(**render)
        keep_reveal = dict(fn=partial(handlers.rerender, studio), inputs=[current, revealed, *task_inputs],
                           outputs=task_view, **queue)
        for component in controls:
            trigger = component.release if isinstance(component, gr.Slider) else component.input
            trigger(**keep_reveal)
        link.change(None, link, None, js=SYNC_ADDRESS_BAR)
        # Gradio 6.31 does not draw a Model3D whose value changed while its tab was hidden: hand it the
        # file again when the tab opens.
        points_tab.select(lambda: None, None, points, api_visibility="undocumented").then(
            partial(files.point_view_of, studio), current, points, api_visibility="undocumented")

        reveal_outputs = [overlay, revealed, spec, soundness_panel, soundness_text, baselines_text]
        reveal_button.click(partial(handlers.reveal, studio), current, reveal_outputs, api_visibility="undocumented")
        baselines_button.click(handlers.run_baselines, [current, mode], baselines_text,
                               concurrency_limit=studio.task_concurrency, concurrency_id="tasks",
                               api_visibility="undocumented")
        # One answer at a time: picking a letter clears the typed answer, typing clears the letter.
        choice.input(lambda: "", None, answer_text, api_visibility="undocumented")
        answer_text.input(lambda: None, None, choice, api_visibility="undocumented")
        score = {"fn": handlers.score_human, "inputs": [current, choice, answer_text, mode], "outputs": human_result,
                 "api_visibility": "undocumented"}
        score_button.click(**score)
        answer_text.submit(**score)
        generation = [max_new_tokens, temperature, top_p, gen_seed, instruction, mode]
        run = run_button.click(partial(handlers.run_model, studio), [current, *generation], [chat, reward],
                               concurrency_limit=studio.model_concurrency, concurrency_id="model",
                               api_visibility="undocumented")
        stop_button.click(None, None, None, cancels=[run])
        group_button.click(partial(handlers.sample_group, studio),
                           [current, group_size, max_new_tokens, group_temperature, top_p, gen_seed, instruction,
                            mode],
                           [group_table, group_summary], concurrency_limit=studio.model_concurrency,
                           concurrency_id="model", api_visibility="undocumented")

        opens = [scene_state, scene_info, link_notes, scene_name, task_name, seed, *controls]

        def open_permalink(request: gr.Request):
            return talk.open_page(studio, dict(request.query_params), talk_steps, talk_on)

        def then_render(event):
            """After a link or a talk step opened: its task's controls, the task, then the link's notes."""
            return event.then(show_controls, task_name, groups, api_visibility="undocumented").then(**render).then(
                formatting.with_link_notes, [link_notes, status_box], status_box, api_visibility="undocumented")

        then_render(demo.load(open_permalink, None,
                              [talk_settings.toggle, steps, step_index, talk_rail.position, talk_settings.steps_box,
                               talk_settings.link, *opens], api_visibility="undocumented"))
        talk_page.wire(demo, studio, talk_settings, talk_rail, steps, step_index, opens=opens, then_render=then_render,
                       show_controls=show_controls, groups=groups, task_view=task_view, current=current, mode=mode,
                       question=question, views=views, reveal_outputs=reveal_outputs)

        research.wire(studio, researcher, option_facts, current=current, link=link, revealed=revealed, mode=mode,
                      form=[scene_state, task_name, seed, *controls])
        api_endpoints(studio)
    # Quick per-visitor events (reveal, scoring, scene switches) run side by side, never one visitor at a time.
    return demo.queue(default_concurrency_limit=studio.task_concurrency)


def gallery_caption(entry: dict) -> str:
    """A shipped scene's caption in the gallery: its name, marked when it has depth ('room · depth')."""
    return f"{entry['name']} · depth" if entry["depth"] else entry["name"]


def show_controls(task: str) -> list:
    """Only the chosen task's controls are shown."""
    return [gr.Accordion(visible=task == name) for name in TASK_NAMES]


def control_component(task: str, control) -> gr.Component:
    """The input for one task control: a dropdown for choices, a checkbox for switches, else a slider."""
    key = f"control-{task}-{control.name}"
    label = control.name.replace("_", " ")
    if control.choices is not None:
        return gr.Dropdown(list(control.choices), value=control.default, label=label, info=control.help,
                           elem_id=key)
    if isinstance(control.default, bool):
        return gr.Checkbox(value=control.default, label=label, info=control.help, elem_id=key)
    integer = isinstance(control.default, int)
    step = 1 if integer else slider_step(control.minimum, control.maximum)
    return gr.Slider(control.minimum, control.maximum, value=control.default, step=step, label=label,
                     info=control.help, precision=0 if integer else None, elem_id=key)


def slider_step(minimum: float, maximum: float) -> float:
    """A step that makes a hundred-odd positions and hits the paper's round defaults (0.01, 0.05, ...)."""
    span = maximum - minimum
    return 0.01 if span <= 2 else 0.5 if span <= 100 else 1.0


def api_endpoints(studio: Studio) -> None:
    """`/scenes`, `/task`, `/score` and `/audit` for gradio_client (documented on the app's API page)."""

    def scenes() -> list[str]:
        """The names of the shipped scenes."""
        return api.api_scenes(studio)

    gr.api(scenes, api_name="scenes")
    with gr.Group(visible=False):
        scene = gr.Textbox(label="scene")
        task = gr.Textbox(label="task")
        seed = gr.Number(label="seed", precision=0)
        controls = gr.Textbox(label="controls (JSON object)")
        record = gr.JSON(label="task record")
        files = gr.File(label="images", file_count="multiple")
        point_view = gr.File(label="point view (GLB)")
        trigger = gr.Button()
    trigger.click(partial(api.api_task, studio), [scene, task, seed, controls], [record, files, point_view],
                  api_name="task", concurrency_limit=studio.task_concurrency, concurrency_id="tasks",
                  api_description="Generate a task on a shipped scene: (record, model-facing PNGs in order, "
                                  "point cloud GLB or None).")
    gr.api(api.api_score, api_name="score")

    def audit(scene: str, task: str, seed: int, controls: str = "", mode: str = "strict") -> dict:
        """The soundness report and the shortcut baselines' scored answers for the task `/task` makes from
        the same scene, task, seed and controls (JSON object); `mode` is the verifier mode."""
        return api.api_audit(studio, scene, task, seed, controls, mode)

    gr.api(audit, api_name="audit", concurrency_limit=studio.task_concurrency, concurrency_id="tasks")


def launch_options() -> dict:
    """What `launch()` needs besides host and port (Gradio 6 takes theme and CSS here, not in Blocks)."""
    return {"css": CSS + research.CSS + talk_page.TALK_CSS, "js": ENTER_APPLIES, "theme": gr.themes.Soft(),
            "max_file_size": "100mb",
            "footer_links": ["api", "gradio"]}

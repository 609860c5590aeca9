"""Markdown for the page: scenes, questions, soundness and baseline tables, rewards, chat messages. Every
string that can come from outside goes through `markdown` (escaped); numbers are formatted here."""

from __future__ import annotations

import html

from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks import MULTIPLE_CHOICE, Table, Task, kind_of

from .markdown import cell, code, text
from .studio import Studio

#: Colour names of the regions in the 3D view (geometry.REGION_COLOURS), for the legend.
REGION_COLOUR_NAMES = {1: "red", 2: "blue", 3: "green"}

def describe_scene(studio: Studio, scene: Scene) -> str:
    """Markdown: the scene's name, size, where its depth came from, and its licence if shipped."""
    lines = [f"**{cell(scene.name)}**: {scene.width}x{scene.height} px."]
    origin = scene.depth_origin
    if origin == "sensor":
        valid = float(scene.valid.mean())
        source = code(scene.sources.get("depth", "depth"))
        lines.append(f"Depth: from a file ({source}), known at {valid:.0%} of pixels.")
    elif origin and origin.startswith("estimated:"):
        lines.append(f"Depth: estimated by the model {code(origin.split(':', 1)[1])} (relative depth, not measured).")
    else:
        lines.append("Depth: none. The depth and position tasks need depth: upload a depth file, or tick "
                     f"*Estimate depth* (needs the depth model `{studio.depth_model}`).")
    for entry in studio.shipped():
        if entry["name"] == scene.name and studio.is_shipped(scene):  # an upload called room.png is not the room
            lines.append(f"{entry['description']}. Licence: {entry['licence']}.")
    return "\n\n".join(lines)

def no_depth_markdown(studio: Studio, scene: Scene | None, view: str) -> str:
    """Why the depth map or the 3D view (`view`) is empty, and how to get depth; "" when there is depth."""
    if scene is None or scene.has_depth:
        return ""
    estimate = ("tick *Estimate depth* there (it runs the depth model "
                f"{code(studio.depth_model)}), then *Use this upload*" if studio.status().can_estimate else
                f"tick *Estimate depth* on a machine with the depth model {code(studio.depth_model)} (it is not "
                "available here: see *Details* at the top)")
    return (f"**No {view} for {cell(scene.name)}**: this scene is a photo without depth. To get depth, open "
            f"*Upload your own* and add a depth file to the photo (.npy, .npz, .h5, 16-bit PNG, TIFF, PFM), or "
            f"{estimate}. The shipped scenes marked *depth* in the gallery have theirs.")

def question_markdown(task: Task) -> str:
    """The question as the model reads it (the format instruction is added when the model runs)."""
    question = text(task.question)
    if task.options:
        listed = zip(MULTIPLE_CHOICE[task.task], task.options)
        question += "\n\n" + "  \n".join(f"**{letter}.** {text(option)}" for letter, option in listed)
    legend = ""
    if "regions" in task.spec:
        legend = "\n\n*3D view*: " + ", ".join(f"region {region['label']} is {REGION_COLOUR_NAMES[region['label']]}"
                                               for region in task.spec["regions"])
        if task.task == "position":
            legend += "; the yellow camera and arrow show where camera stands and faces"
    return f"**Question** ({task.task}, seed {task.seed})\n\n{question}{legend}{provenance_line(task)}"


#: How the page names each style (the task's `style` control).
STYLE_WORDS = {"reference": "worded and drawn as in the released models' training data (reference style)",
               "clear": "worded and drawn for people (clear style; the models were trained on the reference style)"}
#: How the page names each sampling (the task's `sampling` control).
SAMPLING_WORDS = {"sound": "chosen by our sound rules (sound sampling)",
                  "reference": "chosen by the official code's rules, as in the training data (reference sampling)"}


def provenance_line(task: Task) -> str:
    """How the model-facing task was written and drawn (style) and chosen (sampling), for the tasks that
    have those choices."""
    parts = [words[task.controls.get(name)] for name, words in (("style", STYLE_WORDS), ("sampling", SAMPLING_WORDS))
             if task.controls.get(name) in words]
    return f"\n\n*{'; '.join(parts)}*" if parts else ""


def status_markdown(notes: list[str]) -> str:
    """The notes above the task (each already Markdown), one paragraph each."""
    return "\n\n".join(note for note in notes if note)

def with_link_notes(notes: list[str], status: str) -> str:
    """The status after a permalink opened: what the link asked for that was replaced, first."""
    return status_markdown([*notes, status])

#: How a check's rule reads in the soundness table.
RULE_WORDS = {">=": "≥", ">": ">", "<": "<", "<=": "≤"}

def soundness_markdown(report: dict) -> str:
    """A `quality.soundness` report for people: is the answer fixed by the picture, every check with its
    value and limit, and the numbers behind them (for crop, each option's distance from the answer)."""
    lines = ["### Is the answer fixed by the picture?"]
    if report["ambiguous"]:
        lines.append("⚠ **No: this task is ambiguous.** A check failed, so the picture does not settle the answer:")
        lines += [f"- {cell(reason)}" for reason in report["reasons"]]
    else:
        lines.append("✔ **Yes.** Every check passes: one answer, and only one, fits what the model sees.")
    lines += ["", "| check | value | limit | pass | a failure would mean |", "| --- | --- | --- | --- | --- |"]
    for item in report["checks"]:
        meaning = item["reason"].partition(": ")[2] or item["reason"]  # "<name> = v, needs r l: <meaning>"
        lines.append(f"| {cell(item['name'])} | {item['value']:.3g} | {cell(RULE_WORDS[item['rule']])} "
                     f"{item['limit']:g} | {'✔' if item['ok'] else '✘'} | {cell(meaning)} |")
    kind = kind_of(report["task"])
    for part in kind.summary(report["details"]):
        lines += ["", *(table_markdown(part) if isinstance(part, Table) else [text(part)])]
    if kind.compares_pictures:
        lines += ["", f"*Distance* between pictures: {cell(report['distance'])}."]
    return "\n".join(lines)

def table_markdown(table: Table) -> list[str]:
    """A task's summary table as Markdown: a heading, then numbers to three significant digits."""
    def shown(value) -> str:
        return f"{value:.3g}" if isinstance(value, float) else cell(value)

    return [f"#### {text(table.title)}", "| " + " | ".join(cell(column) for column in table.columns) + " |",
            "| " + " | ".join("---" for _ in table.columns) + " |",
            *("| " + " | ".join(shown(value) for value in row) + " |" for row in table.rows)]

def baselines_markdown(audit: dict) -> str:
    """The baselines of a `task_audit` as a table, against the chance level, in words a class can follow."""
    chance = audit["chance"]
    rows = audit["baselines"]
    right = sum(row["accuracy"] == 1 for row in rows)
    mode = rows[0]["mode"] if rows else "strict"
    lines = ["### Can a shortcut guess the answer?",
             "Each answerer below looks at one simple cue and does no spatial reasoning; the verifier scores it "
             f"like the model ({mode} mode). Guessing at random is right **{chance:.1%}** of the time "
             f"(1 in {round(1 / chance)}). On this task **{right} of {len(rows)}** shortcuts got it right.",
             "", "| answerer | how it guesses | its response | read as | right | reward |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| `{row['name']}` | {cell(row['description'])} | {cell(row['response'])} "
                     f"| {code(row['extracted'])} | {'✔' if row['accuracy'] == 1 else '✘'} "
                     f"| {row['overall']:g} |")
    lines += ["", "One task proves little: `spatial-ssrl audit` measures how often each shortcut wins over "
                  "hundreds of tasks (README: 'Task soundness and shortcut audit')."]
    return "\n".join(lines)

def reward_markdown(result) -> str:
    """A verifier Score as a small table: format, accuracy, overall, what was extracted, which mode."""
    return "\n".join([
        "| format | accuracy | overall | extracted | mode |", "| --- | --- | --- | --- | --- |",
        f"| {result.format:g} | {result.accuracy:g} | {result.overall:g} | {code(result.extracted)} | {result.mode} |",
        "", text(result.reason) if getattr(result, "reason", "") else ""]).rstrip()

def literal(value: str) -> str:
    """Model output in the chat: `<image1>` and tags are shown, not dropped as HTML."""
    return html.escape(value, quote=False)

def chat_messages(question: str, parts, done: bool) -> list[dict]:
    """The chat view: the question, a collapsible thinking block, then the final answer."""
    messages = [{"role": "user", "content": literal(question)}]
    if parts.thinking or not done:
        messages.append({"role": "assistant", "content": literal(parts.thinking) or "…",
                         "metadata": {"title": "Thinking", "status": "done" if done or parts.thinking_closed
                                      else "pending"}})
    if parts.answer or done:
        messages.append({"role": "assistant", "content": literal(parts.answer) or "(no answer after the thinking)"})
    return messages

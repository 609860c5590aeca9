"""`spatial-ssrl eval`: generated tasks from a folder of scenes, answered by models and shortcut baselines, scored."""

from __future__ import annotations

from pathlib import Path

from spatial_ssrl.commands import HelpFormatter


def register(subparsers) -> None:
    from spatial_ssrl.models.decoding import MAX_RESPONSE_TOKENS, VALIDATION_TEMPERATURE, VALIDATION_TOP_P
    from spatial_ssrl.tasks import TASK_NAMES
    from spatial_ssrl.tasks.contract import SAMPLINGS, STYLES

    parser = subparsers.add_parser(
        "eval", help="evaluate models and shortcut baselines on generated tasks (accuracy, format rate, mean "
                     "reward per task, beside chance)",
        description="Generate --per-task tasks of each type from the scenes in --scenes (images, with depth files "
                    "paired by name: x.png + x_depth.npy, x.jpg + x.h5), answer them with each --model (and "
                    "shortcut baseline), score them with the verifier, and write OUT/report.json, report.csv, "
                    "report.png and the raw responses (responses.jsonl). Run again with the same arguments to "
                    "resume, or with more --model arguments to add answerers to a finished run.",
        formatter_class=HelpFormatter)
    parser.add_argument("--model", dest="models", action="append", metavar="ID_OR_PATH",
                        help="hub id or local folder, or baseline:NAME for a shortcut baseline (baseline:all for "
                             "every one; an unknown NAME lists them); repeat to compare (default: "
                             "$SPATIAL_SSRL_MODEL, else internlm/Spatial-SSRL-3B, unless only --baselines)")
    parser.add_argument("--baselines", action="store_true",
                        help="also report every shortcut baseline on the task types it answers (= --model "
                             "baseline:all); needs no model weights")
    parser.add_argument("--scenes", required=True, type=Path, help="folder of images (+ depth files)")
    parser.add_argument("--per-task", type=int, default=20, help="tasks per task type")
    parser.add_argument("--seed", type=int, default=0, help="seeds of the tasks are derived from it")
    parser.add_argument("--out", required=True, type=Path, help="output folder (resumed if it holds a run)")
    parser.add_argument("--tasks", nargs="+", choices=TASK_NAMES, default=list(TASK_NAMES))
    parser.add_argument("--mode", choices=("strict", "lenient"), default="strict", help="verifier mode")
    parser.add_argument("--max-new-tokens", type=int, default=MAX_RESPONSE_TOKENS,
                        help="the training response limit by default")
    parser.add_argument("--temperature", type=float, default=None,
                        help=f"0 = greedy (the default); --validation: {VALIDATION_TEMPERATURE}")
    parser.add_argument("--top-p", type=float, default=None, help=f"1.0; --validation: {VALIDATION_TOP_P}")
    parser.add_argument("--style", choices=STYLES, default="reference",
                        help="tasks as the released models were trained on them, or drawn clear for people")
    parser.add_argument("--sampling", choices=SAMPLINGS, default="sound",
                        help="which tasks are drawn: our sound rules, or the official code's (the released "
                             "models' training distribution) where they differ")
    parser.add_argument("--validation", action="store_true",
                        help="sample as the training's validation did (temperature and top_p above), one answer each")
    parser.add_argument("--sample-seed", type=int, default=None, help="seed for sampling (temperature > 0)")
    parser.add_argument("--min-pixels", type=int, default=None, help="per image (default: training's 262144)")
    parser.add_argument("--max-pixels", type=int, default=None, help="per image (default: training's 4194304)")
    parser.add_argument("--estimate-depth", action="store_true",
                        help="give scenes without depth an estimated depth map, so they serve the depth tasks")
    parser.add_argument("--depth-model", default=None, metavar="ID_OR_PATH",
                        help="depth estimator (default: $SPATIAL_SSRL_DEPTH_MODEL, else Depth Anything V2 Small)")
    parser.add_argument("--device", default=None, help="cuda / cpu (default: $SPATIAL_SSRL_DEVICE, else auto)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    parser.set_defaults(run=run)


def run(args) -> int:
    from spatial_ssrl.models.decoding import Decoding
    from spatial_ssrl.models.evaluate import BASELINE_PREFIX, run_eval
    from spatial_ssrl.models.hub import resolve_model
    from spatial_ssrl.models.runner import MAX_PIXELS, MIN_PIXELS

    chosen = {name: value for name, value in (("temperature", args.temperature), ("top_p", args.top_p))
              if value is not None}
    preset = Decoding.validation if args.validation else Decoding
    decoding = preset(max_new_tokens=args.max_new_tokens, seed=args.sample_seed, **chosen)
    answerers = args.models or ([] if args.baselines else [resolve_model()])
    if args.baselines:
        answerers = [*answerers, f"{BASELINE_PREFIX}all"]
    report = run_eval(answerers, args.scenes, args.out, per_task=args.per_task,
                      seed=args.seed, tasks=tuple(args.tasks), decoding=decoding, mode=args.mode,
                      estimate_depth=args.estimate_depth, depth_model=args.depth_model, device=args.device,
                      min_pixels=args.min_pixels or MIN_PIXELS, max_pixels=args.max_pixels or MAX_PIXELS,
                      progress=args.progress, style=args.style, sampling=args.sampling)
    print(report_tables(report))
    print(f"wrote {args.out / 'report.json'}, report.csv, report.png, responses.jsonl")
    return 0


def report_tables(report: dict) -> str:
    """The report as two Markdown tables (accuracy with its interval beside chance; format rate / mean
    reward), one row per answerer: short enough to read in a terminal, ready to paste into a note."""
    from spatial_ssrl.models.evaluate import NOT_APPLICABLE

    groups = [*report["tasks"], "all"]
    header = ["answerer", "kind", *groups]

    def table(title: str, cell, chance: bool) -> list[str]:
        rows = [[answerer, about["kind"], *(cell(report["results"][answerer][group]) for group in groups)]
                for answerer, about in report["answerers"].items()]
        if chance:
            rows.insert(0, ["chance", "", *("-" if report["chance"][group] is None else f"{report['chance'][group]:.3f}"
                                            for group in groups)])
        widths = [max(map(len, column)) for column in zip(header, *rows)]
        settings = report["settings"]
        lines = [f"{title}, {report['per_task']} tasks per type (style {settings['style']}, sampling "
                 f"{settings['sampling']})", "",
                 *("| " + " | ".join(text.ljust(width) for text, width in zip(row, widths)) + " |"
                   for row in [header, ["-" * width for width in widths], *rows])]
        return lines

    def accuracy(row: dict) -> str:
        if not row["applicable"]:
            return NOT_APPLICABLE
        if not row["n"]:
            return "n=0"
        low, high = row["accuracy_ci95"]
        return f"{row['accuracy']:.3f} [{low:.2f}, {high:.2f}]"

    def reward(row: dict) -> str:
        if not row["applicable"]:
            return NOT_APPLICABLE
        return f"{row['format_rate']:.2f} / {row['mean_reward']:.3f}" if row["n"] else "n=0"

    unavailable = {task: len(records) for task, records in report["unavailable"].items()}
    notes = ["n/a: a baseline that does not answer that task type; n=0: no scene admitted a valid task"]
    if unavailable:
        notes.append(f"items no scene admitted (not scored): {unavailable}")
    return "\n".join([*table("accuracy [95% interval]", accuracy, True), "",
                      *table("format rate / mean reward", reward, False), "", *notes])

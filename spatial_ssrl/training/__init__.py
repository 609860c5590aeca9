"""RL training on the tasks with existing engines: `spatial-ssrl train` (TRL's GRPOTrainer with our reward).

Above data and models (it reads built datasets, generates tasks on the fly and loads models through the
runner's hub rules); `commands/train.py` is its command line. The modules:

- `settings`: every flag, the paper's values, and the checks that refuse an impossible combination before
  anything heavy loads (pure Python);
- `stream`: the reproducible, never-repeating task stream over an image folder (`--images`);
- `sources`: rows as GRPOTrainer reads them, from a built dataset or the stream, with the prompt-length limit;
- `metrics`: per-step, per-task-type statistics, `log.jsonl` and `curves.png` (no torch);
- `grpo`: the trainer itself (TRL, peft and torch imported on use).

Importing this package imports neither torch nor TRL.
"""

#!/bin/bash
# Spatial-SSRL GRPO with EasyR1: the official settings (TASKS.md "Training", spatial_ssrl/training/settings.py),
# our data (spatial-ssrl build --format easyr1) and our reward (spatial_ssrl/reward/easyr1.py).
# Run from an EasyR1 checkout (the official fork: Spatial-SSRL's training/GRPO, or hiyouga/EasyR1), in its own
# environment (examples/easyr1/requirements.txt) with this package installed there (pip install -e PATH --no-deps):
#   spatial-ssrl build --images data/ --count 81053 --mix paper --val-fraction 0.01 --out ssrl-81k
#   MODEL_PATH=ckpt/qwen2_5vl_3b_sft DATA=ssrl-81k bash PATH/examples/easyr1/ssrl_grpo.sh
# qwen2_5_vl_3b.sh and qwen2_5_vl_7b.sh beside it set MODEL_PATH and EXPERIMENT for each size.
# --dry-run prints the overrides, one a line, and exits; other arguments are passed on to EasyR1 (key=value).
set -euo pipefail

MODEL_PATH=${MODEL_PATH:-Qwen/Qwen2.5-VL-3B-Instruct}  # the paper starts from an SFT cold-start checkpoint
EXPERIMENT=${EXPERIMENT:-qwen2_5_vl_3b_ssrl_grpo}
DATA=${DATA:-ssrl-81k}                                 # a folder written by spatial-ssrl build --format easyr1
N_GPUS=${N_GPUS:-8}
PYTHON=${PYTHON:-python3}
REWARD=$("$PYTHON" -c "import spatial_ssrl.reward.easyr1 as m; print(m.__file__)")

OVERRIDES=(
    config=examples/config.yaml
    data.train_files="$DATA/train.parquet"
    data.val_files="$DATA/val.parquet"
    data.prompt_key=problem
    data.answer_key=answer
    data.image_key=images
    data.format_prompt="$DATA/format_prompt.jinja"
    data.max_prompt_length=4096
    data.max_response_length=2048
    data.rollout_batch_size=256
    data.min_pixels=262144
    data.max_pixels=4194304
    algorithm.adv_estimator=grpo
    algorithm.use_kl_loss=true
    algorithm.kl_penalty=low_var_kl
    algorithm.kl_coef=1.0e-2
    worker.actor.global_batch_size=128
    worker.actor.optim.lr=1.0e-6
    worker.actor.optim.weight_decay=1.0e-2
    worker.actor.optim.lr_warmup_ratio=0.0
    worker.actor.model.model_path="$MODEL_PATH"
    worker.actor.model.freeze_vision_tower=false
    worker.rollout.n=5
    worker.rollout.temperature=1.0
    worker.rollout.top_p=1.0
    worker.rollout.limit_images=5
    worker.rollout.val_override_config.temperature=0.6
    worker.rollout.val_override_config.top_p=0.95
    worker.rollout.val_override_config.n=1
    worker.reward.reward_function="$REWARD:compute_score"
    trainer.total_epochs=10
    trainer.save_freq=5
    trainer.save_limit=3
    trainer.experiment_name="$EXPERIMENT"
    trainer.n_gpus_per_node="$N_GPUS"
)

if [[ "${1:-}" == "--dry-run" ]]; then
    printf '%s\n' "${OVERRIDES[@]}"
    exit 0
fi
exec "$PYTHON" -m verl.trainer.main "${OVERRIDES[@]}" "$@"

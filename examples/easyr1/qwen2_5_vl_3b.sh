#!/bin/bash
# Spatial-SSRL GRPO on Qwen2.5-VL-3B with EasyR1 and the official settings (ssrl_grpo.sh says how to run it).
# MODEL_PATH: the SFT cold-start checkpoint (spatial-ssrl coldstart, then LLaMA-Factory), or the instruct model.
MODEL_PATH=${MODEL_PATH:-Qwen/Qwen2.5-VL-3B-Instruct} EXPERIMENT=${EXPERIMENT:-qwen2_5_vl_3b_ssrl_grpo} \
    exec bash "$(dirname "${BASH_SOURCE[0]}")/ssrl_grpo.sh" "$@"

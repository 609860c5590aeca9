"""GRPO with TRL itself (`spatial-ssrl train` wraps the same with checks, logs and a task stream): a dataset
written by `spatial-ssrl build`, the project's reward, the paper's settings. Any GRPOConfig field is a flag:
    python grpo_on_built_data.py DATA_DIR MODEL [--max_steps 10 --output_dir runs/x ...]"""

import sys

from datasets import load_dataset
from trl import GRPOConfig, GRPOTrainer, TrlParser

from spatial_ssrl.data import chat_messages
from spatial_ssrl.reward.trl import spatial_reward
from spatial_ssrl.tasks.prompt import fit_pixels

data, model = sys.argv[1], sys.argv[2]
parser = TrlParser(GRPOConfig)
# TRL counts completions: 128 prompts x 5 answers per update, 256 x 5 generated per round (on N processes,
# divide gradient_accumulation_steps by N); per_device_train_batch_size is a multiple of num_generations
parser.set_defaults(output_dir="grpo-spatial", num_generations=5, temperature=1.0, top_p=1.0, beta=0.01,
                    learning_rate=1e-6, weight_decay=0.01, max_completion_length=2048, num_train_epochs=10,
                    per_device_train_batch_size=5, gradient_accumulation_steps=128, generation_batch_size=1280,
                    logging_steps=1)
(config,) = parser.parse_args_and_config(sys.argv[3:])

train = load_dataset("parquet", data_files=f"{data}/train.parquet", split="train")
# the prompt as training built it (the instruction appended, images in place) and images in the pixel bounds;
# TRL passes the answer, task and options columns to the reward
train = train.map(lambda row: {"prompt": chat_messages(row["problem"]),
                               "images": [fit_pixels(image) for image in row["images"]]})
GRPOTrainer(model=model, reward_funcs=[spatial_reward], train_dataset=train, args=config).train()

"""Reward plug-ins for RL trainers, thin over `spatial_ssrl.verify`: `easyr1.compute_score` (EasyR1 / verl)
and `trl.spatial_reward` (TRL's GRPOTrainer). Neither imports its trainer, so both load anywhere."""

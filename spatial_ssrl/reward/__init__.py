"""The verifiable reward (`verify`, free of project imports: trainers load it by path) and its plug-ins for
RL trainers: `easyr1.compute_score` (EasyR1 / verl) and `trl.spatial_reward` (TRL's GRPOTrainer). Neither
plug-in imports its trainer, so both load anywhere."""

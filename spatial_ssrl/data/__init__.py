"""Training data: image folders to datasets in trainer formats (`dataset`, `exporters`). Above tasks and
analysis."""

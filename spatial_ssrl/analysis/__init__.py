"""Analysis: is a task sound (`quality`), which shortcut answerers apply (`baselines`), how items are
answered and summarised (`scoring`, `stats`), and the audit over many tasks (`audit`). Above tasks and
the reward; below the data, models and commands."""

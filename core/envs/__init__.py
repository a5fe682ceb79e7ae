"""Closed-loop environments for the agent families (BabyAI grid worlds in :mod:`core.envs.babyai`).

Imported lazily: ``minigrid`` and ``gymnasium`` load only when :mod:`core.envs.babyai` is used.
"""

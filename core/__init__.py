"""Multi-task plasticity lab: tasks, models, training, analysis and plotting."""

__version__ = "0.1.0"

"""Multi-task plasticity lab: tasks, models, training, analysis and plotting for recurrent networks."""

__version__ = "0.1.0"

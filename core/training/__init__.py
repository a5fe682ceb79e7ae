"""Training engine: run names, pickle-free checkpoints, losses, configs and the training loop."""

from core.errors import CheckpointError, RunExistsError, TrainingDiverged, TrainingInterrupted
from core.training.checkpoint import (
    load_checkpoint,
    load_model_state,
    model_state,
    save_checkpoint,
)
from core.training.config import TrainConfig, get_preset
from core.training.losses import masked_cross_entropy, masked_mse
from core.training.naming import RunName, parse_run_name, run_name
from core.training.trainer import (
    RuleTraining,
    StageRecorder,
    Trainer,
    TrainResult,
    Validation,
    build_rule_run,
    load_run,
)

__all__ = [
    "CheckpointError", "RuleTraining", "RunExistsError", "RunName", "StageRecorder",
    "TrainConfig", "TrainResult", "Trainer", "TrainingDiverged", "TrainingInterrupted",
    "Validation", "build_rule_run", "get_preset", "load_checkpoint", "load_model_state",
    "load_run", "masked_cross_entropy", "masked_mse", "model_state", "parse_run_name",
    "run_name", "save_checkpoint",
]

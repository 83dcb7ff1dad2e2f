"""The errors a user can cause (bad config, data, tokenizer, checkpoint, divergence, a disk
that refuses a write, a run directory another process is training in).

The CLI prints these as one line and exits non-zero; anything else is a bug and
keeps its traceback.
"""

from textvae.checkpoints import CheckpointError
from textvae.config import ConfigError
from textvae.data import DataError
from textvae.decoding import DecodingError
from textvae.files import StorageError
from textvae.tokenizer import TokenizerError
from textvae.training import TrainingDiverged

USER_ERRORS = (ConfigError, DataError, DecodingError, TokenizerError, CheckpointError, TrainingDiverged,
               StorageError)

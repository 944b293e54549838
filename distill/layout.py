"""The folder a trained student is written to (``kedrec distill train --out DIR``).

::

    DIR/
      adapter/        the LoRA adapter (peft ``save_pretrained``; the tokenizer beside it)
      student.json    base model (spec, folder, weight hashes), data, config, metrics, versions
      README.md       the model card
      data_report.json  which trajectory records became examples, and why the others did not
      train_config.json the config the run started with (``--resume`` checks it)
      checkpoints/    the Trainer's checkpoints (``--resume`` continues from the last one)
      merged/         with ``--merge``: base + adapter merged, an HF model folder with tokenizer

The loader of ``student:DIR`` reads this layout; the names live here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llm.student import ADAPTER_DIR, MERGED_DIR, STUDENT_FILE

STUDENT_FORMAT = "kedrec-student"
STUDENT_FORMAT_VERSION = 1
MODEL_CARD = "README.md"
DATA_REPORT = "data_report.json"
TRAIN_CONFIG = "train_config.json"
CHECKPOINTS_DIR = "checkpoints"


@dataclass(frozen=True)
class StudentLayout:
    """The paths of one student folder."""

    root: Path

    @property
    def adapter(self) -> Path:
        """The peft adapter folder (``adapter_config.json``, ``adapter_model.safetensors``)."""
        return self.root / ADAPTER_DIR

    @property
    def student_json(self) -> Path:
        """What the student was trained from and how (see :mod:`distill.train`)."""
        return self.root / STUDENT_FILE

    @property
    def model_card(self) -> Path:
        """The model card (data, config, metrics)."""
        return self.root / MODEL_CARD

    @property
    def data_report(self) -> Path:
        """Counts of kept and dropped trajectory records, by reason."""
        return self.root / DATA_REPORT

    @property
    def train_config(self) -> Path:
        """The config of the run (written at its start, compared on ``--resume``)."""
        return self.root / TRAIN_CONFIG

    @property
    def checkpoints(self) -> Path:
        """The Trainer's ``checkpoint-<step>`` folders."""
        return self.root / CHECKPOINTS_DIR

    @property
    def merged(self) -> Path:
        """The merged HF folder (only with ``--merge``)."""
        return self.root / MERGED_DIR

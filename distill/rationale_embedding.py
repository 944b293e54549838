r"""The optional paper Eq. 6 term: the student's rationale close to the teacher's in MiniLM space.

Token cross-entropy (``L_rationale``) asks for the teacher's exact words; Eq. 6 asks for the
same *meaning*. The teacher's rationale text (the answer after the ``Choice:`` line) is
embedded once with the sentence encoder of the literature index (all-MiniLM-L6-v2, unit
vectors). While training, a linear :class:`RationaleHead` maps the student's last hidden state
at the answer's last token (the end-of-turn token, which has read the whole rationale; with
left padding it is position -1 of every row) into that space, and

    ``L_embed = ‖ĥ − e_teacher‖²``  (ĥ the unit-normalised projection; = 2 − 2·cos)

is added with weight μ (``StudentConfig.embedding_weight``) for every example that has a
teacher rationale (selection-only examples have none). The head exists only for this loss: the
student never uses it at inference. It is a trainable module of the peft model, so the
optimizer and its checkpointed state cover it; :class:`HeadCheckpointCallback` writes its
weights into every checkpoint and :func:`load_head` restores them on ``--resume``, so a resumed
run equals an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from transformers import TrainerCallback

from distill.prompting import choice_span

if TYPE_CHECKING:
    from distill.data import EncodedExample

HEAD_FILE = "rationale_head.safetensors"
"""The head's weights in a checkpoint folder and in the student folder."""


def rationale_text(completion: str, end_of_turn: str) -> str:
    """The answer after the ``Choice:`` line, without the end-of-turn token ('' if none)."""
    _, end = choice_span(completion)
    return completion[end:].removesuffix(end_of_turn).strip()


def attach_targets(
    examples: Sequence[EncodedExample], encode: Any, end_of_turn: str, batch_size: int = 32
) -> int:
    """Embed every example's teacher rationale into ``example.target_embedding``.

    Args:
        examples: Encoded examples; selection-only ones (and empty rationales) get no target.
        encode: ``texts -> (n, dim)`` unit vectors (:meth:`literature.embedding.Embedder.encode`).
        end_of_turn: The completion's closing token text (not embedded).
        batch_size: Texts per encoder call.

    Returns:
        How many examples got a target.
    """
    chosen = [
        (example, text)
        for example in examples
        if not example.selection_only and (text := rationale_text(example.completion, end_of_turn))
    ]
    for start in range(0, len(chosen), batch_size):
        batch = chosen[start : start + batch_size]
        vectors = encode([text for _, text in batch])
        for (example, _), vector in zip(batch, vectors, strict=True):
            example.target_embedding = [float(x) for x in vector]
    return len(chosen)


class RationaleHead(torch.nn.Module):
    """A linear map from the student's hidden size to the sentence encoder's, unit-normalised."""

    def __init__(self, hidden_size: int, embedding_size: int) -> None:
        super().__init__()
        self.projection = torch.nn.Linear(hidden_size, embedding_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(batch, hidden)`` → ``(batch, embedding)`` unit vectors."""
        return torch.nn.functional.normalize(self.projection(hidden.float()), dim=-1)


def embedding_loss(
    predicted: torch.Tensor, target: torch.Tensor, has_target: torch.Tensor
) -> torch.Tensor:
    """Mean of ``‖predicted − target‖²`` over the rows that have a target (0 when none does).

    Args:
        predicted: ``(batch, dim)`` unit vectors from the head.
        target: ``(batch, dim)`` the teacher rationales' unit embeddings (zeros where none).
        has_target: ``(batch,)`` 1.0 where the row has a target, else 0.0.
    """
    distances = ((predicted - target) ** 2).sum(dim=-1)
    return (distances * has_target).sum() / has_target.sum().clamp_min(1.0)


def save_head(head: RationaleHead, folder: Path) -> Path:
    """Write the head's weights to ``folder/HEAD_FILE``."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / HEAD_FILE
    save_file({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}, path)
    return path


def load_head(head: RationaleHead, folder: Path) -> bool:
    """Load ``folder/HEAD_FILE`` into ``head``; False when the folder has none."""
    from safetensors.torch import load_file

    path = folder / HEAD_FILE
    if not path.is_file():
        return False
    head.load_state_dict(load_file(str(path)))
    return True


class HeadCheckpointCallback(TrainerCallback):
    """Write the head into each checkpoint the Trainer saves (peft saves only the adapter)."""

    def __init__(self, head: RationaleHead) -> None:
        self.head = head

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """After the Trainer's save of ``checkpoint-<step>``."""
        save_head(self.head, Path(args.output_dir) / f"checkpoint-{state.global_step}")

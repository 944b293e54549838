"""The distilled student (``student:<folder>``): a LoRA adapter on a local LLaMA, in this process.

A student folder, as ``kedrec distill train --out DIR`` writes it::

    DIR/student.json   base_model {spec ("local:smollm2" …), folder, weights_sha256}, prompt,
                       records, config, training … (see distill.train)
    DIR/adapter/       the LoRA adapter (peft ``save_pretrained``)
    DIR/merged/        optional: base and adapter merged into one HF folder (with tokenizer)
    DIR/README.md

:func:`load_student_backend` loads ``merged/`` when it is there (plain
:func:`~llm.local_model.load_backend`), else the base folder with the adapter applied
(``peft.PeftModel.from_pretrained``) and merged into its weights in memory (``merge_and_unload``:
the same function, no LoRA matmuls per token); one backend per folder and process. The
student is a :class:`~llm.local_model.LocalChatModel` (:class:`StudentChatModel`), so plan mode
takes its log-likelihood choice and field-by-field answer, exactly as for a local teacher.
Every problem with the folder is a one-line :class:`StudentModelError` naming the fix.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from llm.local_model import (
    SMOLLM2_NAME,
    LocalBackend,
    LocalChatModel,
    LocalModelError,
    _import_torch,
    default_num_threads,
    ensure_smollm2,
    is_model_folder,
    load_backend,
    torch_dtype,
)

logger = logging.getLogger(__name__)

STUDENT_PREFIX = "student:"
"""Model strings ``student:<folder>`` name a student folder."""
STUDENT_FILE = "student.json"
ADAPTER_DIR = "adapter"
MERGED_DIR = "merged"
"""The folder layout the trainer writes (``distill.layout`` imports these names)."""
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


class StudentModelError(LocalModelError):
    """A student folder is missing, incomplete or malformed (one line naming the fix)."""


def _train_hint(folder: Path) -> str:
    return f"train one with `kedrec distill train --out {folder}`"


def read_student_info(folder: Path) -> dict[str, Any]:
    """Read and check ``DIR/student.json`` and that ``DIR`` has ``merged/`` or ``adapter/``.

    Cheap (no weights are read): :func:`llm.chat_models.load_chat_model` calls it so a bad
    folder fails when the model is named, not at the first answer.

    Args:
        folder: The student folder.

    Returns:
        The parsed ``student.json``.

    Raises:
        StudentModelError: No such folder, ``student.json`` missing or not a JSON object,
            neither ``merged/`` nor a complete ``adapter/``, or an adapter config that is not
            JSON.
    """
    if not folder.is_dir():
        raise StudentModelError(f"student folder {folder} does not exist: {_train_hint(folder)}")
    info_path = folder / STUDENT_FILE
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise StudentModelError(
            f"{info_path} is missing or not JSON ({reason}): {_train_hint(folder)}"
        ) from error
    merged = folder / MERGED_DIR
    if merged.exists():
        if not is_model_folder(merged):
            raise StudentModelError(
                f"{merged} is not an HF model folder (needs config.json, *.safetensors and "
                "tokenizer.json): delete it to use adapter/, or merge again"
            )
        return info
    adapter = folder / ADAPTER_DIR
    if not adapter.is_dir():
        raise StudentModelError(f"{folder} has no adapter/ or merged/: {_train_hint(folder)}")
    config_path = adapter / ADAPTER_CONFIG
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise StudentModelError(
            f"{config_path} is missing or not JSON ({reason}): the adapter is incomplete, "
            f"{_train_hint(folder)}"
        ) from error
    if not any((adapter / name).is_file() for name in ADAPTER_WEIGHTS):
        raise StudentModelError(
            f"{adapter} has no {ADAPTER_WEIGHTS[0]}: the adapter is incomplete, "
            f"{_train_hint(folder)}"
        )
    return info


def base_model_of(info: dict[str, Any]) -> tuple[str, str | None, dict[str, str]]:
    """The base of a student: ``(spec, folder, weight hashes)`` from its ``student.json``.

    Reads the trainer's layout (``"base_model": {"spec", "folder", "weights_sha256"}``) and
    the flat one (``"base_model": "local:…"``, ``"base_folder"``, ``"base_sha256"``).
    """
    base = info.get("base_model")
    if isinstance(base, dict):
        hashes = base.get("weights_sha256")
        return (
            str(base.get("spec") or ""),
            str(base["folder"]) if base.get("folder") else None,
            {str(k): str(v) for k, v in hashes.items()} if isinstance(hashes, dict) else {},
        )
    folder = info.get("base_folder")
    return str(base or ""), str(folder) if folder else None, {}


def student_base_folder(folder: Path, info: dict[str, Any], cache_dir: Path | None = None) -> Path:
    """The HF folder the adapter applies to: the recorded folder, else the named base model.

    ``local:smollm2`` is converted into the cache when its folder is gone (another machine, a
    cleared cache); any other base must still be where ``student.json`` says.

    Args:
        folder: The student folder (for messages).
        info: Its ``student.json``.
        cache_dir: Where ``local:smollm2`` is cached; default the settings' ``cache_dir``.

    Raises:
        StudentModelError: The base folder is missing and cannot be rebuilt.
    """
    spec, recorded, _ = base_model_of(info)
    base = Path(recorded).expanduser() if recorded else None
    if base is not None and is_model_folder(base):
        return base
    provider, _, name = spec.partition(":")
    if provider == "local" and name.strip().lower() == SMOLLM2_NAME:
        if cache_dir is None:
            from kedrec.settings import get_settings

            cache_dir = get_settings().cache_dir
        return ensure_smollm2(cache_dir)
    if provider == "local" and name and is_model_folder(Path(name).expanduser()):
        return Path(name).expanduser()
    raise StudentModelError(
        f"the base model of {folder} ({spec or '?'}, folder {recorded or '?'}) is not an HF "
        "model folder here: put it back there, or train the student again on this machine"
    )


def check_base_weights(base: Path, expected: dict[str, str]) -> list[str]:
    """Weight files of ``base`` whose SHA-256 differs from what the student was trained on.

    Args:
        base: The base folder the adapter is about to be applied to.
        expected: File name → SHA-256 from ``student.json`` (nothing to check when empty).

    Returns:
        The names that differ or are missing (empty: the same base).
    """
    import hashlib

    differing = []
    for name, digest in sorted(expected.items()):
        path = base / name
        if not path.is_file():
            differing.append(name)
            continue
        sha = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
        if sha.hexdigest() != digest:
            differing.append(name)
    return differing


_STUDENTS: dict[str, LocalBackend] = {}
_STUDENTS_LOCK = threading.Lock()


def load_student_backend(
    folder: Path,
    num_threads: int | None = None,
    cache_dir: Path | None = None,
    dtype: str = "auto",
) -> LocalBackend:
    """Load (once per process) a student: ``merged/`` if present, else base + ``adapter/``.

    Args:
        folder: The student folder (``kedrec distill train --out``).
        num_threads: Torch CPU threads; default :func:`~llm.local_model.default_num_threads`.
        cache_dir: Where a ``local:smollm2`` base is cached; default the settings'.
        dtype: The weights' dtype (:func:`llm.local_model.torch_dtype`; the adapter is merged
            in that dtype).

    Returns:
        The shared backend; its model is the base with the adapter merged in, in eval mode.

    Raises:
        StudentModelError: The folder is malformed (see :func:`read_student_info`), its base
            is missing, or peft is not installed / cannot load the adapter.
    """
    info = read_student_info(folder)
    merged = folder / MERGED_DIR
    if merged.exists():
        return load_backend(merged, num_threads, dtype)
    key = f"{folder.resolve()}|{dtype}"
    with _STUDENTS_LOCK:
        if key in _STUDENTS:
            return _STUDENTS[key]
        base = student_base_folder(folder, info, cache_dir)
        differing = check_base_weights(base, base_model_of(info)[2])
        if differing:  # e.g. smollm2 converted again with other library versions
            logger.warning(
                "%s: the base weights %s in %s differ from those the student was trained on; "
                "its answers may be off (train again on this base)",
                folder,
                ", ".join(differing),
                base,
            )
        try:
            from peft import PeftModel
        except ImportError as error:
            raise StudentModelError(
                "students need peft: pip install peft (or merge the adapter into merged/)"
            ) from error
        torch = _import_torch()
        torch.set_num_threads(num_threads or default_num_threads())
        from transformers import AutoModelForCausalLM, AutoTokenizer

        adapter = folder / ADAPTER_DIR
        started = time.perf_counter()
        # the adapter folder's tokenizer if the trainer saved one (same template), else the base's
        has_tokenizer = (adapter / "tokenizer.json").is_file()
        tokenizer = AutoTokenizer.from_pretrained(
            adapter if has_tokenizer else base, local_files_only=True
        )
        if not tokenizer.chat_template:
            raise StudentModelError(f"{base} has no chat template: use an instruct base model")
        model = AutoModelForCausalLM.from_pretrained(
            base, dtype=torch_dtype(dtype), local_files_only=True
        )
        try:
            student = PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
        except Exception as error:  # a wrong base, a damaged file: one line naming the fix
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise StudentModelError(
                f"cannot apply {adapter} to {base} ({type(error).__name__}: {reason}): "
                f"{_train_hint(folder)}"
            ) from error
        # folded into the base weights: the same function without LoRA's extra matmuls on
        # every projection (measured in bench/RESULTS.md), as a merged/ folder would load
        merged_model = student.merge_and_unload().eval()
        backend = LocalBackend.of(merged_model, tokenizer, time.perf_counter() - started)
        logger.info("loaded student %s on %s in %.1f s", folder, base, backend.load_seconds)
        _STUDENTS[key] = backend
        return backend


class StudentChatModel(LocalChatModel):
    """A :class:`~llm.local_model.LocalChatModel` on a student folder (loaded on first use).

    It has ``.backend`` like any local model, so plan mode scores the candidates by
    log-likelihood and writes the layout field by field. It is not meant for tool calling
    (``kedrec chat``): a student was trained on the plan prompt only.
    """

    student_dir: str = Field(description="The student folder (student.json, adapter/, merged/).")
    cache_dir: str | None = Field(
        default=None, description="Where a local:smollm2 base is cached (None: the settings')."
    )

    @property
    def _llm_type(self) -> str:
        return "kedrec-student"

    @property
    def backend(self) -> LocalBackend:
        """The student, loaded on first use (:func:`load_student_backend`)."""
        if self._backend is None:
            cache = Path(self.cache_dir) if self.cache_dir else None
            self._backend = load_student_backend(
                Path(self.student_dir), self.num_threads, cache_dir=cache, dtype=self.dtype
            )
        return self._backend

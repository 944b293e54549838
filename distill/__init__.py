"""Knowledge distillation: teacher trajectories train a LoRA LLaMA student.

- :mod:`distill.prompting`: the student's prompt (:func:`~distill.prompting.student_prompt`,
  shared with inference) and its training target;
- :mod:`distill.data`: trajectory records → tokenised examples with per-token loss weights,
  filtered (every drop counted by reason) and held to the task-set build's test/benchmark
  diseases;
- :mod:`distill.config`: :class:`~distill.config.StudentConfig`, one documented field per knob;
- :mod:`distill.trainer`: the weighted loss, the collator and the validation selection
  accuracy for transformers' ``Trainer``;
- :mod:`distill.train`: :func:`~distill.train.train_student`, a peft LoRA run written in the
  layout of :mod:`distill.layout`;
- :mod:`distill.cli`: ``kedrec distill train``.
"""

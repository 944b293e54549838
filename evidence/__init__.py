"""The one evidence layer: tool results as text plus the IDs and edges it shows; citations.

``steps`` (the five bundle steps) and ``explore`` (the teacher's lookups) return
``Observation``s; ``bundle`` runs the steps for a task set and renders them for the student;
``citations`` holds an answer to the evidence it was shown; ``masking`` is the one rule for
hidden pairs.
"""

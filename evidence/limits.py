"""How much each evidence step shows: the settings' ``evidence`` sub-model, one for everyone.

The teacher's tools and the student's bundle read the same limits, so a tool's text and the
bundle's section for the same call are the same text. The limits are part of the bundle's
identity (recorded with it, and hashed into its version).
"""

from __future__ import annotations

from kedrec.settings import EvidenceSettings, get_settings

EvidenceLimits = EvidenceSettings
"""Per-step limits: ``profile_limit``, ``mechanism_limit``, ``literature_top_n``,
``snippet_chars`` and the bundle's character budget ``bundle_chars``."""


def default_limits() -> EvidenceLimits:
    """The configured limits (``KEDREC_EVIDENCE_*``)."""
    return get_settings().evidence

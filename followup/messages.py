"""Message ids of the doctor's side: :func:`N_` marks a text defined at module level
(a choice's name, a column's header, a check's message) for the catalog's extraction.

The text is the English message id; it is translated where it is shown, by the web
layer (:mod:`followup.web.i18n`) or by whatever renders it for a person. Every part of
the doctor's side may mark its words here without importing the web layer (the
import-linter contract ``followup-domain-below-web``).
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Marks ``message`` for extraction; it is translated where shown."""
    return message

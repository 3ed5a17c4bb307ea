"""CompactProbs moved to engine/crf/compact.py (the fast engine writes it, this package reads it, and the fast engine
must not import this package); this name stays for existing imports."""
from ..compact import CompactProbs

__all__ = ["CompactProbs"]

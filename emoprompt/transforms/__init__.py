"""Prompt transforms: the baseline, stimulus attachment, and composition."""

from emoprompt.transforms.base import Baseline, Chain, Transform, chain
from emoprompt.transforms.stimulus import PLACEMENTS, SEPARATORS, AttachStimulus

__all__ = ["PLACEMENTS", "SEPARATORS", "AttachStimulus", "Baseline", "Chain", "Transform", "chain"]

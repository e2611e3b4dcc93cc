"""Prompt transforms: the contract, the baseline, stimulus attachment, feedback loops and composition."""

from emoprompt.transforms.base import Baseline, Chain, FunctionTransform, Transform, as_transform, chain
from emoprompt.transforms.stimulus import PLACEMENTS, SEPARATORS, AttachStimulus

__all__ = ["PLACEMENTS", "SEPARATORS", "AttachStimulus", "Baseline", "Chain", "FunctionTransform", "Transform",
           "as_transform", "chain"]

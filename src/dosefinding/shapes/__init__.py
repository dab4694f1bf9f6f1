"""Dose-response shapes, candidate model sets and guesstimates."""

from dosefinding.shapes.candidates import CandidateModel, Candidates
from dosefinding.shapes.guesstimates import guesstimate
from dosefinding.shapes.library import SHAPE_NAMES, Shape, default_bounds, get_shape

__all__ = [
    "SHAPE_NAMES",
    "CandidateModel",
    "Candidates",
    "Shape",
    "default_bounds",
    "get_shape",
    "guesstimate",
]

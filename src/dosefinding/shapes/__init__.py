"""Dose-response shapes, candidate model sets and guesstimates."""

from typing import TYPE_CHECKING

from dosefinding.lazy import lazy_exports

if TYPE_CHECKING:
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

if not TYPE_CHECKING:  # type checkers see the imports above; at run time they are lazy
    __getattr__, __dir__ = lazy_exports(__name__)

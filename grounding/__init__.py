"""Where on the screen is <description>? OCR, accessibility, template and model engines.

Imports only from models. Subfolders: accessibility/ (AT-SPI, X windows, the accessibility grounder),
ocr/ (the OCR engine and its cache), benchmark/ (ScreenSpot-format datasets and their evaluation).
"""

from grounding.base import (Box, Candidate, EmptyDescription, Grounder, GroundingError, GroundingHints,
                            GroundingResult, InvalidScreenshot, Point, box_center, box_contains)
from grounding.engines import SPEC_NAMES, open_grounder

__all__ = [
    "Box",
    "box_center",
    "box_contains",
    "Candidate",
    "EmptyDescription",
    "Grounder",
    "GroundingError",
    "GroundingHints",
    "GroundingResult",
    "InvalidScreenshot",
    "open_grounder",
    "Point",
    "SPEC_NAMES",
]

"""Where on the screen is <description>? OCR, accessibility, icons, template and model engines.

Imports only from models. ``description`` takes a planner's description apart (text, role, relation,
containers, places) for every engine. Subfolders: accessibility/ (AT-SPI, X windows, the accessibility
grounder), ocr/ (the OCR engine, its layout reading and its cache), icons/ (the installed icon themes and
the icons grounder), benchmark/ (ScreenSpot-format datasets and their evaluation).
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

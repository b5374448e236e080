"""OCR grounding: the RapidOCR engine, the grounder on it, and the cache that re-reads only what changed."""

from grounding.ocr.cache import OcrCache
from grounding.ocr.engine import OcrBox, OcrEngine, OcrGrounder, RapidOcrEngine, shared_engine, text_near

__all__ = ["OcrBox", "OcrCache", "OcrEngine", "OcrGrounder", "RapidOcrEngine", "shared_engine", "text_near"]

"""Grounding by asking a vision-language model to point: "Point to <description>".

The screenshot is shrunk to the model profile's pixel budget before sending (so the size the model
saw is known, not guessed), the answer's points are parsed and mapped back to screenshot pixels by
`grounding.coordinates`. With ``samples > 1`` (PC Agent samples 3) the sampled point closest to the
median of all samples wins, which throws out a lone stray answer.

Model errors (unreachable server, HTML instead of JSON, ...) are not "not found": they propagate
as the typed models.errors.ModelError for the caller to handle.
"""

from __future__ import annotations

import math
import time
from typing import Any

from PIL import Image

from grounding import coordinates
from grounding.base import Candidate, GroundingHints, GroundingResult, check_inputs
from models.base import Message, VisionLanguageModel
from models.images import fit_to_pixels
from models.text_excerpt import quoted

__all__ = ["ModelGrounder"]

_QUOTE_LIMIT = 200  # characters of a model answer quoted in a reason
_AGREE_FRACTION = 0.03  # samples within 3 % of the image diagonal of the winner agree with it


class ModelGrounder:
    """Ground a description with a pointing model behind the VisionLanguageModel interface."""

    def __init__(self, model: VisionLanguageModel, convention: str, *, prompt: str = "Point to {description}",
                 samples: int = 1, name: str = "model", temperature: float | None = None,
                 max_tokens: int | None = None) -> None:
        """``temperature``: passed to every sample (None: the model profile's); give one above 0 when
        ``samples > 1``, or every sample comes out the same."""
        if convention not in coordinates.CONVENTIONS:
            raise ValueError(f"unknown output convention {convention!r}; "
                             f"expected one of {', '.join(coordinates.CONVENTIONS)}")
        if samples < 1:
            raise ValueError(f"samples must be at least 1, got {samples}")
        if "{description}" not in prompt:
            raise ValueError("prompt must contain {description}")
        self.model = model
        self.convention = convention
        self.prompt = prompt
        self.samples = samples
        self.name = name
        self.temperature = temperature
        self.max_tokens = max_tokens

    def _image_for_model(self, screenshot: Image.Image) -> Image.Image:
        profile = getattr(self.model, "profile", None)
        budget = getattr(profile, "image_max_pixels", None)
        image = screenshot.convert("RGB") if screenshot.mode not in ("RGB", "L") else screenshot
        # the backends' own rule (models.images), so their resize leaves this copy as it is
        return fit_to_pixels(image, int(budget))[0] if budget else image

    def ground(self, screenshot: Image.Image, description: str,
               hints: GroundingHints | None = None) -> GroundingResult:
        """Ask the model ``samples`` times; the point closest to the samples' median wins."""
        screenshot, description = check_inputs(screenshot, description)
        start = time.monotonic()
        sent = self._image_for_model(screenshot)
        message = Message.of("user", sent, self.prompt.format(description=description))
        answers: list[dict[str, Any]] = []
        points: list[tuple[int, int]] = []
        problems: list[str] = []
        for _ in range(self.samples):
            response = self.model.generate([message], max_tokens=self.max_tokens, temperature=self.temperature)
            answer: dict[str, Any] = {"text": response.text[:2000], "latency_s": round(response.latency_s, 4)}
            answers.append(answer)
            point, problem = self._point_from(response.text, screenshot.size, sent.size)
            if point is None:
                problems.append(problem)
            else:
                answer["point"] = list(point)
                points.append(point)
        details = {"model": getattr(self.model, "name", ""), "convention": self.convention,
                   "sent_size": list(sent.size), "image_size": list(screenshot.size), "answers": answers}
        latency = time.monotonic() - start
        if not points:
            return GroundingResult.not_found(self.name, problems[0], latency_s=latency, **details)
        chosen, confidence = self._pick(points, screenshot.size)
        candidates = [Candidate(chosen, None, confidence, description, self.name)]
        seen = {chosen}
        for point in points:
            if point not in seen:
                seen.add(point)
                candidates.append(Candidate(point, None, confidence / 2, description, self.name))
        return GroundingResult.hit(candidates[0], candidates, latency_s=latency, **details)

    def _point_from(self, text: str, image_size: tuple[int, int],
                    sent_size: tuple[int, int]) -> tuple[tuple[int, int] | None, str]:
        """The first on-screen point of one answer, or None and why not."""
        parsed = coordinates.parse_points(text, self.convention)
        if not parsed:
            return None, f"no coordinates in the model's answer: {quoted(text, _QUOTE_LIMIT)}"
        for x, y in parsed:
            try:
                return coordinates.to_screen(x, y, self.convention, image_size, sent_size), ""
            except coordinates.CoordinateError:
                continue
        return None, f"the model pointed off the screen: {quoted(text, _QUOTE_LIMIT)}"

    def _pick(self, points: list[tuple[int, int]], size: tuple[int, int]) -> tuple[tuple[int, int], float]:
        """The point closest to the median, and the share of all samples that agree with it."""
        mx, my = coordinates.median_point(points)
        chosen = min(points, key=lambda p: (p[0] - mx) ** 2 + (p[1] - my) ** 2)
        radius = _AGREE_FRACTION * math.hypot(*size)
        agreeing = sum(1 for p in points if math.dist(p, chosen) <= radius)
        return chosen, agreeing / self.samples

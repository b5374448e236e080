"""Grounding engines asked in order, optionally with a verifier model checking each candidate.

Without a verifier the first engine to find the target with at least ``min_confidence`` wins.
With one (PC Agent's self-check), each candidate is marked on a copy of the screenshot and the
verifier is asked whether the mark is on the target; it answers Accept or Reject (anything else
counts as Reject). A rejected candidate makes way for the engine's next candidate, then for the
next engine, up to ``max_tries`` verifications in all. The result's details list every try.

An engine that fails with a models.errors.ModelError (its server is down, say) is passed over and
its error listed among the reasons; only when every engine failed that way is the first error
raised. A verifier's ModelError is raised at once: the caller asked for verification. So is an engine
that finds nothing to look for in the description (EmptyDescription: "in the toolbar" holds no text
for OCR, yet an icon engine may still answer).

``settle_at``: an answer below this confidence is kept while the next engines are asked; the first
answer at or above it wins, else the most confident kept one. An engine whose ``wants_first(description)``
says yes (icons, for "the magnifying glass icon") is asked right after the live-screen engines.
"""

from __future__ import annotations

import re
import time
from typing import Any, Iterator, Sequence

from PIL import Image

from grounding.base import Candidate, EmptyDescription, Grounder, GroundingHints, GroundingResult, check_inputs
from grounding.marks import mark_point
from models.base import Message, VisionLanguageModel
from models.errors import ModelError

__all__ = ["CompositeGrounder", "VERIFY_PROMPT", "parse_verdict"]

VERIFY_PROMPT = (
    'The red circle and dot on this screenshot mark where a click would land. Is the mark on {description!r}? '
    'Answer with one word: "Accept" if it is, "Reject" if it is not.'
)
_VERDICT_RE = re.compile(r"\b(accept(?:ed)?|reject(?:ed)?)\b", re.I)


def parse_verdict(text: str) -> bool:
    """True for an answer whose first verdict word is Accept; Reject, silence or anything else: False."""
    match = _VERDICT_RE.search(text or "")
    return bool(match) and match.group(1).lower().startswith("accept")


class CompositeGrounder:
    """Engines in order; the first good answer wins, or the first the verifier accepts."""

    name = "composite"

    def __init__(self, engines: Sequence[Grounder], *, verifier: VisionLanguageModel | None = None,
                 max_tries: int = 3, min_confidence: float = 0.0, verify_prompt: str = VERIFY_PROMPT,
                 settle_at: float | None = None, stepped_aside: Sequence[str] = ()) -> None:
        if not engines:
            raise ValueError("a composite grounder needs at least one engine")
        if max_tries < 1:
            raise ValueError(f"max_tries must be at least 1, got {max_tries}")
        self.engines = list(engines)
        self.verifier = verifier
        self.max_tries = max_tries
        self.min_confidence = min_confidence
        self.verify_prompt = verify_prompt
        self.settle_at = settle_at
        self.stepped_aside = list(stepped_aside)  # engines left out: they read the live desktop

    def _order(self, description: str) -> list[Grounder]:
        """The engines in order, those that want this description first moved up behind the live ones."""
        eager = [e for e in self.engines if callable(getattr(e, "wants_first", None)) and e.wants_first(description)]
        if not eager:
            return self.engines
        live = [e for e in self.engines if getattr(e, "needs_live_screen", False) and e not in eager]
        return live + eager + [e for e in self.engines if e not in live and e not in eager]

    def ground(self, screenshot: Image.Image, description: str,
               hints: GroundingHints | None = None) -> GroundingResult:
        screenshot, description = check_inputs(screenshot, description)
        start = time.monotonic()
        reasons: list[str] = []
        tries: list[dict[str, Any]] = []
        errors: list[ModelError] = []
        empty: list[EmptyDescription] = []
        kept: tuple[GroundingResult, str] | None = None  # the best answer below settle_at
        for engine in self._order(description):
            engine_name = getattr(engine, "name", type(engine).__name__)
            try:
                result = engine.ground(screenshot, description, hints)
            except ModelError as exc:
                errors.append(exc)
                reasons.append(f"{engine_name}: {type(exc).__name__}: {exc}")
                continue
            except EmptyDescription as exc:
                empty.append(exc)
                reasons.append(f"{engine_name}: nothing to look for: {exc}")
                continue
            if not result.found:
                reasons.append(f"{engine_name}: {result.reason}")
                continue
            if result.confidence < self.min_confidence:
                reasons.append(f"{engine_name}: confidence {result.confidence:.2f} below {self.min_confidence}")
                continue
            if self.verifier is None and self.settle_at is not None and result.confidence < self.settle_at:
                reasons.append(f"{engine_name}: only {result.confidence:.2f} sure, asking on")
                if kept is None or result.confidence > kept[0].confidence:
                    kept = (result, engine_name)
                continue
            if self.verifier is None:
                return _with_details(result, start, engine=engine_name, reasons=reasons,
                                     stepped_aside=self.stepped_aside)
            for candidate in _candidates_of(result, engine_name):
                if len(tries) >= self.max_tries:
                    break
                accepted, answer = self._verify(screenshot, description, candidate)
                tries.append({"engine": engine_name, "point": list(candidate.point),
                              "verdict": "accept" if accepted else "reject", "answer": answer[:200]})
                if accepted:
                    found = GroundingResult.hit(candidate, [candidate, *[c for c in result.candidates
                                                                         if c.point != candidate.point]])
                    return _with_details(found, start, engine=engine_name, reasons=reasons, tries=tries,
                                         engine_details=result.details)
            reasons.append(f"{engine_name}: the verifier rejected its candidates")
            if len(tries) >= self.max_tries:
                reasons.append(f"stopped after {self.max_tries} verifications")
                break
        if kept is not None:
            return _with_details(kept[0], start, engine=kept[1], reasons=reasons, stepped_aside=self.stepped_aside)
        if errors and len(errors) == len(self.engines):
            raise errors[0]
        if empty and len(empty) + len(errors) == len(self.engines):
            raise empty[0]
        return GroundingResult.not_found(self.name, "; ".join(reasons), latency_s=time.monotonic() - start,
                                         reasons=reasons, tries=tries, stepped_aside=self.stepped_aside)

    def _verify(self, screenshot: Image.Image, description: str, candidate: Candidate) -> tuple[bool, str]:
        assert self.verifier is not None
        marked = mark_point(screenshot, candidate.point, candidate.box)
        message = Message.of("user", marked, self.verify_prompt.format(description=description))
        answer = self.verifier.generate([message]).text
        return parse_verdict(answer), answer


def _candidates_of(result: GroundingResult, engine_name: str) -> Iterator[Candidate]:
    """The result's own answer first, then its other candidates (each point once)."""
    assert result.point is not None
    first = Candidate(result.point, result.box, result.confidence,
                      result.candidates[0].label if result.candidates else None, result.engine or engine_name)
    seen = {first.point}
    yield first
    for candidate in result.candidates:
        if candidate.point not in seen:
            seen.add(candidate.point)
            yield candidate


def _with_details(result: GroundingResult, start: float, **extra: Any) -> GroundingResult:
    """The engine's result, timed over the whole composite run, with what the composite learned."""
    details = {**result.details, **{k: v for k, v in extra.items() if v not in (None, [], {})}}
    return GroundingResult(result.found, result.point, result.box, result.confidence, result.engine,
                           result.candidates, result.reason, time.monotonic() - start, details)

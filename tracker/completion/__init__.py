"""Cognition completion: what a model adds to recorded steps so that they teach an agent.

Passes (tracker.completion.passes), each with any model profile: ``describe`` (a click's target as an
element click, the recorded element name as a hint), ``check`` (good, or a correction), ``thought`` (the
human's thought before each step, from the history, or also from the next steps as hindsight),
``reflection`` (OpenCUA: was the previous step correct, was it redundant, a short reflection) and
``boost`` (PC Agent-E's trajectory boost: alternative thought + action samples that parse, point on the
screen and end where the human's step ends).

What a step gets (keys of steps.jsonl; tracker.format.trajectory_check checks them):

    action_description          "click element: the 'Save' button of the dialog" (the step's click kind)
    action_description_checked  {"verdict": "good"} or {"verdict": "corrected", "original": <the old one>}
    thought                     {"text", "source": "completed", "model", "profile", "pass": "thought",
                                 "mode": "history" | "hindsight"}; a thought already there (typed by the
                                 human: "source": "human") is never replaced
    reflection                  {"previous_step", "correct", "redundant", "text", "source": "completed",
                                 "model", "profile", "pass"}
    boost                       {"samples": [{"thought", "action"}], "requested", "rejected": [why],
                                 "duplicates", "temperature", "action_format", "source", "model", "profile",
                                 "pass"}
    completion                  {<pass>: {"status": "done" | "failed", "model", "profile", "time",
                                 "cached" (done) | "error" (failed)}}

Runs are idempotent and resumable (only what is missing is asked for; results are logged to the
trajectory's completion.jsonl as they arrive), answers are cached on disk (tracker.completion.cache),
requests run concurrently (tracker.completion.runner) and prompts are files a researcher can replace
(tracker.completion.prompts). The ``pcagent trace complete`` command drives it.
"""

from tracker.completion.answers import AnswerError
from tracker.completion.boost import BoostConfigError
from tracker.completion.cache import ResponseCache, default_cache_dir
from tracker.completion.passes import DEFAULT_PASSES, OUTPUT_KEYS, PASSES, THOUGHT_MODES
from tracker.completion.prompts import PROMPT_FILES, PromptError, PromptSet
from tracker.completion.runner import (CompletionOptions, CompletionSummary, Failure, PassCounts,
                                       complete_trajectories)
from tracker.completion.trajectory_store import LOG_FILE

__all__ = [
    "AnswerError",
    "BoostConfigError",
    "complete_trajectories",
    "CompletionOptions",
    "CompletionSummary",
    "DEFAULT_PASSES",
    "default_cache_dir",
    "Failure",
    "LOG_FILE",
    "OUTPUT_KEYS",
    "PassCounts",
    "PASSES",
    "PROMPT_FILES",
    "PromptError",
    "PromptSet",
    "ResponseCache",
    "THOUGHT_MODES",
]

"""The public API of each package: `__all__` lists exactly what the package exports, the promised names
stay exported, and importing a package stays light (no heavy SDK, nothing from the layers above)."""

from __future__ import annotations

import __future__
import importlib
import subprocess
import sys
import types

import pytest

# Each package that exports names, with the names it promises (a subset of its __all__).
PROMISED = {
    "models": {"Message", "ModelResponse", "Usage", "VisionLanguageModel", "ModelProfile", "open_model",
               "load_profiles", "get_profile", "ScriptedServer", "ModelError", "ModelConfigError",
               "ModelUnavailable", "ModelConnectionError", "ModelTimeout", "ModelHTTPError", "ModelAuthError",
               "ModelResponseError"},
    "grounding": {"Grounder", "GroundingHints", "GroundingResult", "Candidate", "Box", "open_grounder"},
    "grounding.accessibility": {"Accessibility", "ElementInfo", "NullAccessibility", "open_accessibility",
                                "list_elements", "AccessibilityGrounder", "open_windows", "WindowInfo"},
    "grounding.ocr": {"OcrGrounder", "OcrCache", "RapidOcrEngine", "shared_engine"},
    "grounding.icons": {"IconGrounder", "ThemeIndex", "IconTemplates", "icon_names_for"},
    "grounding.benchmark": {"Sample", "load_dataset", "write_dataset", "evaluate", "EvalReport"},
    "tracker": {"Action", "ActionError", "parse_action", "format_action", "Step", "Trajectory",
                "TrajectoryWriter", "read_trajectory", "check_trajectory", "TrajectoryError"},
    "pcagent": {"__version__"},
    "pcagent.agent.planners": {"make_planner", "PLANNER_CHOICES", "PromptPlanner", "UITarsPlanner"},
}
# What importing a package must not load: heavy SDKs and the display/input stacks (pynput picks its X
# backend when imported), and every layer above it.
HEAVY = ("torch", "transformers", "onnxruntime", "rapidocr", "cv2", "keyring", "PySide6", "pynput", "pyautogui")
ABOVE = {"models": ("grounding", "tracker", "pcagent"), "grounding": ("tracker", "pcagent"),
         "tracker": ("pcagent",), "pcagent": ()}


@pytest.mark.parametrize("name", sorted(PROMISED))
def test_all_lists_exactly_the_public_names(name):
    package = importlib.import_module(name)
    public = {member for member, value in vars(package).items()
              if not member.startswith("_") and not isinstance(value, (types.ModuleType, __future__._Feature))}
    exported = set(package.__all__) - {"__version__"}
    assert exported == public
    assert package.__all__ == sorted(package.__all__, key=str.casefold)
    assert len(package.__all__) == len(set(package.__all__))
    assert PROMISED[name] <= set(package.__all__)


@pytest.mark.parametrize("name", sorted(PROMISED))
def test_exports_are_our_own(name):
    package = importlib.import_module(name)
    for member in package.__all__:
        value = getattr(package, member)
        owner = getattr(value, "__module__", None)
        if owner not in (None, "builtins", "typing"):  # type aliases and constants have no owner of ours
            assert owner.split(".")[0] == name.split(".")[0], f"{name}.{member} comes from {owner}"


@pytest.mark.parametrize("name", sorted(ABOVE))
def test_importing_a_package_is_light_and_respects_the_layers(name):
    code = f"import sys, {name}; print(sorted({{m.split('.')[0] for m in sys.modules}}))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for other in (*HEAVY, *ABOVE[name]):
        assert f"'{other}'" not in loaded, f"importing {name} pulled in {other}"


def test_importing_the_model_backends_module_stays_light():
    code = ("import sys, models, models.backends.openai_compat, models.scripted_server, models.factory; "
            "print(sorted({m.split('.')[0] for m in sys.modules}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for name in ("torch", "transformers", "onnxruntime", "keyring", "grounding", "tracker", "pcagent"):
        assert f"'{name}'" not in loaded, f"importing models pulled in {name}"

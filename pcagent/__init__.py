"""pcagent: the agent loop, collaboration, the tray app, the command line, replay and evaluation.

Subfolders: agent/ (loop, session, executor, planners/), collab/ (approval gates, guards, metrics),
cli/ (one module per command group), testbed/ (virtual display, sample app, real input, datasets).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

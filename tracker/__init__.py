"""Trajectories: the recorder, the trajectory format and action grammar, import and export.

Imports only from grounding and models, never from pcagent. Subfolders: format/ (the action grammar,
trajectory files, their check, converters and importers), recording/ (the recorder and its parts);
privacy.py decides which typed text is redacted, for the recorder and the agent alike.
"""

from tracker.format.actions import Action, ActionError, format_action, parse_action
from tracker.format.trajectory import Step, Trajectory, TrajectoryError, TrajectoryWriter, new_meta, read_trajectory
from tracker.format.trajectory_check import check_trajectory

__all__ = [
    "Action",
    "ActionError",
    "check_trajectory",
    "format_action",
    "new_meta",
    "parse_action",
    "read_trajectory",
    "Step",
    "Trajectory",
    "TrajectoryError",
    "TrajectoryWriter",
]

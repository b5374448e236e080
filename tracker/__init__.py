"""Trajectories: the recorder, the trajectory format and action grammar, import and export.

Imports only from grounding and models, never from pcagent.
"""

"""pcagent: the agent loop, collaboration, the tray app, the command line, replay and evaluation."""

__version__ = "0.1.0"

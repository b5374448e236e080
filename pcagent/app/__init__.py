"""The tray app: a Qt-free core (controller.py: state and recorder; ctl.py: the `pcagent ctl` socket;
global_hotkey.py: the thought hotkey) under the Qt views and their wiring in ui/."""

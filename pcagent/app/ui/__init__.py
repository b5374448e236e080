"""The tray app's Qt layer: application.py wires the core to the views (tray.py: the tray icon, its menu and
the control window used where the desktop has no tray; thought_box.py: the thought entry box)."""

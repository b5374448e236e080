"""The trajectory format: the action grammar, trajectory files and their check, converters to and from
other action spaces (OSWorld computer_13, pyautogui, UI-TARS), and the PC Tracker importer."""

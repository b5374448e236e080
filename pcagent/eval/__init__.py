"""OSWorld-style evaluation: task JSON loading (tasks.py), setup steps on a fresh local desktop (setup.py),
getters and metrics (getters.py, metrics/), OSWorld's scoring rules (scoring.py), one task in its own process
(episode.py), many tasks on workers or a Ray cluster (runner.py) and the results in OSWorld's layout
(results.py). The bundled suite lives in tasks/, a recorded trajectory that solves each task in solutions/,
and record_solutions.py records them again; sampleapp_state.py turns the sample app's event log into the
JSON its tasks' evaluators read."""

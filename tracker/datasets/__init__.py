"""Trajectories in and out: training and evaluation data exported from trajectories, and OSWorld results
imported as trajectories (`pcagent trace export`, `pcagent trace import-osworld`).

    export.py         one entry point for every export format; bad trajectories are reported and skipped
    sources.py        finding trajectory folders, reading them strictly, screenshots in portable formats
    samples.py        training samples in PC Agent-E's shape (instruction, thought + action, boosts)
    llamafactory.py   LLaMA-Factory sharegpt JSON + dataset_info.json
    messages.py       OpenAI chat messages JSONL
    parquet.py        a Hugging Face datasets Parquet file, a row per step
    osworld_traj.py   OSWorld's traj.jsonl and step screenshots (also the evaluation harness's writer)
    osworld_import.py OSWorld result folders as trajectories

The PC Tracker importer lives with the format (tracker.format.pctracker).
"""

from tracker.datasets.export import EXPORT_FORMATS, ExportOptions, ExportReport, export_trajectories
from tracker.datasets.osworld_import import ImportReport, import_osworld, import_osworld_results
from tracker.datasets.sources import DatasetError

__all__ = ["DatasetError", "EXPORT_FORMATS", "ExportOptions", "ExportReport", "ImportReport", "export_trajectories",
           "import_osworld", "import_osworld_results"]

"""The grounding benchmark: ScreenSpot-format datasets (read and write) and their evaluation."""

from grounding.benchmark.evaluate import EvalReport, SampleResult, evaluate, write_results
from grounding.benchmark.screenspot import DatasetError, Sample, load_dataset, write_dataset

__all__ = ["DatasetError", "EvalReport", "evaluate", "load_dataset", "Sample", "SampleResult", "write_dataset",
           "write_results"]

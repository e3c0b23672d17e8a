"""The report: statistics, the study's comparisons, tables and figures, read from run folders
or committed run records. It never imports the training engine (nor does the engine import it).

``compare(source, "c3d", "c3d-pose", dataset="puppet")`` pairs two experiments' runs;
``compare_settings(fp32_runs, bf16_runs)`` pairs the same runs trained under two settings;
``write_report`` regenerates ``results/`` and ``figures/`` as one unit.
"""
from actionpose.report.publish import write_report
from actionpose.report.records import Records, load, load_runs
from actionpose.report.tables import compare, compare_settings

__all__ = ["Records", "compare", "compare_settings", "load", "load_runs", "write_report"]

"""Task definitions and data loading: the shared ground that training (`training`) and evaluation (`eval`) stand
on. It depends only on fusion's errors (and fusion.backbones' hub check), never on training, eval or the app."""
from .definitions import (ALIGNMENT_TASKS, FAMILIES, NLI_LABELS, TASKS, AlignmentTask, HubSource, Task,
                          get_any_task, get_task)

__all__ = ["ALIGNMENT_TASKS", "FAMILIES", "NLI_LABELS", "TASKS", "AlignmentTask", "HubSource", "Task",
           "get_any_task", "get_task"]

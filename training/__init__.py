"""Training the bridge on English task data: a consumer of the model library (fusion) and the task definitions
(tasks), below evaluation and the app. `python -m training.train --help`."""

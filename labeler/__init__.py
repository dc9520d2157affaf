"""The labelling app and its data: domain (the rules), store (the one door to a project file), formats
(reading and writing the files people use), statistics and the Qt app (ui, the only part that imports Qt).
Nothing here imports the training stack; the trainer (the `trainer` package) reads projects through store.
"""

__version__ = "0.1.0"

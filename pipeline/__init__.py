"""docexit.pipeline: options, pipeline construction and the command-line entry."""

__version__ = "0.1.0"

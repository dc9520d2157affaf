"""Data files the installed app needs at run time (installed as the package `labeler.resources`)."""

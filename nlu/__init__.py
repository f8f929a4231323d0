"""Rasa NLU components the pipeline in config.yml names (nlu.devanagari.*)."""

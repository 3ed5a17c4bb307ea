"""Dialogs: the questions the session asks (prompts.py, classes.py), damaged-journal notice, and the pre-label,
train and tune dialogs."""

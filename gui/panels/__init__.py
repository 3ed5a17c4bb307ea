"""Docked panels and bars: images and the file list, classes and the class editor, the CRF panel, the status bar,
the readout and the view toolbar."""

"""Numpy pictures for the canvas and the status bar: RGBA overlays (overlays.py), perceptual colour maps
(colormaps.py) and the readout under the cursor (readout.py). Qt-free; the canvas turns them into QImages."""

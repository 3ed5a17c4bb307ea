"""Files in and out, Qt-free: image reading with size caps (images.py; checks.py, the header checks; tiff.py,
16-bit, float and multi-band TIFFs with tifffile; scaling.py, their bands and scaling to RGB; orientation.py),
label PNGs (labels.py), atomic writes and save transactions, exports (COCO, labelme, VOC) and provenance
sidecars."""

"""Files in and out, Qt-free: image reading with size caps (images.py; checks.py, the header checks; tiff.py,
16-bit, float and multi-band TIFFs with tifffile; scaling.py, their bands and scaling to RGB; orientation.py),
label PNGs (labels.py), atomic writes and save transactions, exports (COCO and labelme: exports.py; VOC, labelmap.txt,
CVAT masks, YOLO-seg: one module each; the folder-level entry: dataset_export.py) and provenance sidecars."""

"""Files in and out, Qt-free: image reading with size caps (images.py), label PNGs (labels.py), atomic writes and
save transactions, exports (COCO, labelme, VOC) and provenance sidecars."""

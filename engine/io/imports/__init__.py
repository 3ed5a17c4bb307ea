"""Other tools' annotations read as label maps, Qt-free, one module per format:

- labelme.py:   a folder of labelme JSON files (labelme's own rasteriser, shape by shape);
- coco.py:      a COCO instances JSON (polygons and RLE through pycocotools);
- cvat_mask.py: CVAT "Segmentation mask 1.1" (labelmap.txt + SegmentationClass colour PNGs; folder or zip), and
                a VOC dataset with datumaro's labelmap.txt (--from voc);
- yolo_seg.py:  Ultralytics YOLO segmentation (labels/*.txt polygons + data.yaml names);
- common.py:    the Source every reader returns and the checks on untrusted input; frame.py: EXIF orientation.
Writing them into a folder (class matching, never overwriting hand labels) is engine.folder.imports.
"""
from __future__ import annotations

from .common import IGNORE, UNLABELLED, ImportSourceError, Source, SourceItem
from .coco import read_coco
from .cvat_mask import read_cvat_mask
from .frame import Frame, image_frame
from .labelme import read_labelme
from .yolo_seg import read_yolo_seg

# a VOC dataset with datumaro's labelmap.txt (this app's VOC export) has CVAT's mask layout: the same reader
READERS = {"labelme": read_labelme, "coco": read_coco, "cvat-mask": read_cvat_mask, "voc": read_cvat_mask,
           "yolo-seg": read_yolo_seg}
FORMATS = tuple(READERS)


def read_source(fmt: str, path) -> Source:
    """The annotations at ``path`` in format ``fmt`` (one of FORMATS); ImportSourceError if they cannot be read."""
    try:
        reader = READERS[fmt]
    except KeyError:
        raise ImportSourceError(f"unknown import format {fmt!r}; one of {', '.join(FORMATS)}") from None
    return reader(path)


__all__ = ["IGNORE", "UNLABELLED", "ImportSourceError", "Source", "SourceItem", "Frame", "image_frame", "READERS",
           "FORMATS", "read_source", "read_coco", "read_cvat_mask", "read_labelme", "read_yolo_seg"]

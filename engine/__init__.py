"""DeepLab Annotator's engine (no Qt).

OpenCV reads its own pixel limit once, when it is loaded: give it ours before anything imports cv2, so even its
decoders refuse an image bomb (engine.io.images checks every header first; this is the backstop).
"""
import os as _os

from .limits import max_pixels as _max_pixels

_os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(_max_pixels()))

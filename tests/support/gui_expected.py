"""What the window should show: the labels a fresh Predictor and CRF give for an image."""
from engine.checkpoints import load_checkpoint
from engine.crf import get_backend
from engine.io.images import read_image
from engine.predict import Predictor


def expected(model, image_path, params, backend_name):
    """What the app should show, computed here without the GUI."""
    image = read_image(image_path)
    probs = Predictor(load_checkpoint(model), "cpu").predict(image)
    return probs, get_backend(backend_name).session(image).run(probs, params).labels

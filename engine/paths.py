"""Where the bundled resources live; one place so the CLI, GUI and tests agree."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "resources"
MODELS_DIR = RESOURCES / "models"
SAMPLES_DIR = RESOURCES / "samples"
CLASSES_DIR = RESOURCES / "classes"
PRESETS_DIR = RESOURCES / "presets"
DEMO_V1 = MODELS_DIR / "demo_v1.pt"
DEMO_V2 = MODELS_DIR / "demo_v2.pt"

"""DeepLab networks (v1 LargeFOV, v2 ResNet-101 ASPP MSC) and their registry."""
from engine.models.registry import ARCHITECTURES, ModelSpec, build_model

__all__ = ["ARCHITECTURES", "ModelSpec", "build_model"]

"""An independent reference of the published DeepLab inference pipelines (see README.md in this folder).

Written from the published sources only (Caffe DeepLab v1/v2 prototxts and C++ layers, kazuto1011/deeplab-pytorch),
never from the app's engine/ code, so that tests/engine/models/test_published_pipelines.py can hold the app to them.
"""

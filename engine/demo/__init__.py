"""The bundled demo: synthetic recycling-belt scenes, the training recipe for the demo models, and their evaluation."""

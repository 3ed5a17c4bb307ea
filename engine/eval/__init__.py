"""Scoring checkpoints on public benchmarks the way their published tables were measured."""

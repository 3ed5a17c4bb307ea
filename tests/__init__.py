"""The tests, mirroring the code: engine/<package>/, gui/, cli/, hostile/ (attacks and fuzzing), bench/ (the
benchmarks' pure parts), support/."""

"""Pre-labelling throughput: the sequential loop vs the pipelined single process vs Ray with 2 model workers, on the
same demo images in one run, with the ratios; plus each Ray worker's peak memory and whether the labels agree.

    .venv/bin/python bench/prelabel.py [--images 50] [--model v1|v2] [--workers 2] [--skip-ray]

The sequential loop is the plain way (read, predict, refine, write, one after the other; torch on all cores); a
second sequential row with torch on half the cores separates the gain of overlapping from that of the thread count.
The pipeline overlaps reading, the network and the CRF of different images (torch on half the cores, the CRF beside
it).
Ray runs the same stages as Ray Data (a model actor pool and CRF tasks) on a local Ray started beforehand; its
start-up is printed but not counted, its workers' start-up (imports, model transfer) is.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.batch import PrelabelSettings, prelabel  # noqa: E402
from engine.batch.settings import default_net_threads  # noqa: E402
from engine.batch.stages import RefineStage  # noqa: E402
from engine.checkpoints import load_checkpoint  # noqa: E402
from engine.crf import preset  # noqa: E402
from engine.demo.samples import write_samples  # noqa: E402
from engine.paths import DEMO_V1, DEMO_V2  # noqa: E402


def _labels(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "labels").glob("*.png"))}


def _load() -> str:
    try:
        return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "load average unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=50)
    ap.add_argument("--model", choices=("v1", "v2"), default="v1")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--quick", action="store_true", help="8 images, no Ray (make bench)")
    args = ap.parse_args(argv)
    if args.quick:
        args.images, args.skip_ray = 8, True

    cores = os.cpu_count() or 1
    loaded = load_checkpoint(DEMO_V1 if args.model == "v1" else DEMO_V2)
    crf = preset(loaded.spec.crf_preset)
    tmp = Path(tempfile.mkdtemp(prefix="bench-prelabel-"))
    started = time.perf_counter()
    try:
        source = tmp / "images"
        write_samples(source, tmp / "gt", count=args.images)
        print(f"{args.images} demo images ({', '.join(sorted({'x'.join(map(str, s)) for s in _sizes(source)}))}), "
              f"model demo_{args.model}, CRF {loaded.spec.crf_preset} (fast, CPU), {cores} cores, {_load()}")
        RefineStage(PrelabelSettings(crf)).warm_up()   # compiled CRF kernels loaded once, before any timing
        _warm_network(loaded, source, {cores, default_net_threads()})

        half = default_net_threads()
        runs = [("sequential", "sequential", PrelabelSettings(crf, net_threads=cores))]
        if half != cores:  # a control: how much of the pipeline's gain is only its thread count
            runs.append((f"seq {half} thr", "sequential", PrelabelSettings(crf, net_threads=half)))
        runs.append(("pipelined", "pipeline", PrelabelSettings(crf, net_threads=half)))
        if not args.skip_ray:
            runs.append((f"ray x{args.workers}", "ray", PrelabelSettings(crf, net_threads=default_net_threads())))
        results, labels = {}, {}
        for name, runner, settings in runs:
            folder = tmp / name.replace(" ", "_")
            shutil.copytree(source, folder)
            options = None
            if runner == "ray":
                import ray

                from engine.batch.ray_runner import RayOptions, init_ray

                t = time.perf_counter()
                init_ray(RayOptions(num_cpus=cores))
                print(f"  (Ray started in {time.perf_counter() - t:.1f} s, not counted)")
                options = RayOptions(workers=args.workers)
            try:
                summary = prelabel(folder, loaded, settings, runner=runner, ray_options=options)
            finally:
                if runner == "ray":
                    ray.shutdown()
            if summary.errors or summary.labelled != args.images:
                print(f"{name}: {summary.labelled} labelled, errors {summary.errors}")
                return 1
            results[name] = summary
            labels[name] = _labels(folder)
            extra = ""
            if runner == "ray":
                w = summary.workers
                extra = (f"  peak RSS: model workers {', '.join(f'{v:.0f}' for v in sorted(w['net_rss'].values()))} "
                         f"MiB, CRF workers {', '.join(f'{v:.0f}' for v in sorted(w['crf_rss'].values()))} MiB")
            print(f"{name:>12}: {summary.seconds:7.1f} s  {summary.rate:6.2f} images/s  "
                  f"(torch threads {settings.net_threads}){extra}  {_load()}")

        base = results["sequential"].rate
        pipe = labels["pipelined"]
        for name in results:
            same = sum(labels[name][k] == pipe[k] for k in pipe)
            print(f"{name:>12}: {results[name].rate / base:5.2f}x the sequential loop; "
                  f"label PNGs identical to the pipelined run: {same}/{len(pipe)}")
        ratios = ", ".join(f"{n} {results[n].rate / base:.2f}x" for n in results if n != "sequential")
        print(f"prelabel images/s: sequential {base:.2f}; {ratios}; wall {time.perf_counter() - started:.0f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _warm_network(loaded, folder: Path, thread_counts) -> None:
    """One forward pass per image size and torch thread count, so no timed run pays for first-call set-up."""
    import torch

    from engine.io.images import read_image
    from engine.predict import Predictor

    predictor, seen = Predictor(loaded, device="auto"), set()
    for p in sorted(folder.glob("*.png")):
        image = read_image(p)
        if image.shape in seen:
            continue
        seen.add(image.shape)
        for n in thread_counts:
            torch.set_num_threads(n)
            predictor.predict(image)


def _sizes(folder: Path):
    from PIL import Image

    for p in folder.glob("*.png"):
        with Image.open(p) as im:
            yield im.size


if __name__ == "__main__":
    sys.exit(main())

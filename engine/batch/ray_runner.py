"""Pre-labelling on Ray Data: read tasks -> a pool of model actors (one GPU each where the cluster has GPUs) ->
CRF tasks on CPUs -> the driver, which writes every file (engine.batch.recorder).

The stages are engine.batch.stages, as in one process, and the network's torch threads are pinned to the same
number (PrelabelSettings.net_threads), so the labels are byte-identical to a single-process run on the same
hardware. Workers read the images by path: on a cluster the folder must be visible at the same path on every node
(a shared file system); nothing is written by the workers. The model is loaded (and checked) once by the driver and
shipped to the actors, so the nodes need no copy of the checkpoint.
"""
from __future__ import annotations

import logging
import os
import resource
import warnings
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator

from ..errors import EngineError
from .plan import Item
from .settings import PrelabelSettings
from .stages import NetworkStage, Outcome, RefineStage, describe_error, read_stage

LOCAL = "local"   # --ray without an address: start a Ray instance on this machine for the run


@dataclass(frozen=True)
class RayOptions:
    """address: LOCAL, 'auto' (the cluster `ray start` made on this machine) or 'ray://host:10001' / 'host:6379'.
    workers: model actors (default: one per GPU of the cluster, else 2). num_cpus: CPUs of a local Ray (None: all).
    """
    address: str = LOCAL
    workers: int | None = None
    num_cpus: int | None = None


def _peak_rss_mb() -> float:
    """Peak resident memory of this worker process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _read_row(row: dict, settings: PrelabelSettings) -> dict:
    item = Item(int(row["index"]), row["name"], row["path"], settings.image)
    try:
        return {**row, "error": "", "image": read_stage(item)}
    except Exception as exc:  # noqa: BLE001 - reported per image, the run goes on
        return {**row, "error": describe_error(item, exc), "image": None}


def _network_actor(loaded, settings: PrelabelSettings):
    """The actor class, made per run so the model travels inside it (no constructor argument to lose on a
    restart). Each actor builds its Predictor once, on its GPU if it was given one."""

    class NetworkActor:
        def __init__(self):
            self.stage = NetworkStage.from_loaded(loaded, settings)
            self.stage.pin_threads()

        def __call__(self, row: dict) -> dict:
            item = Item(int(row["index"]), row["name"], row["path"])
            probs, error = None, row["error"]
            if not error:
                try:
                    probs = self.stage(row["image"])
                except Exception as exc:  # noqa: BLE001
                    error = describe_error(item, exc)
            return {**row, "error": error, "probs": probs, "net_pid": os.getpid(), "net_rss": _peak_rss_mb()}

    return NetworkActor


def _refine_row(row: dict, settings: PrelabelSettings) -> dict:
    item = Item(int(row["index"]), row["name"], row["path"])
    labels, unc, error = None, None, row["error"]
    if not error:
        try:
            labels, unc = RefineStage(settings)(row["image"], row["probs"])
        except Exception as exc:  # noqa: BLE001
            error = describe_error(item, exc)
    # image and probabilities stay in the cluster: the driver gets the label map only
    return {"index": item.index, "name": item.name, "path": item.path, "error": error, "labels": labels,
            "unc": unc, "net_pid": row.get("net_pid"), "net_rss": row.get("net_rss"),
            "crf_pid": os.getpid(), "crf_rss": _peak_rss_mb()}


def _quiet() -> None:
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False          # the driver shows one tqdm bar for the whole run
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)                   # "execution finished in ..."
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled"


def init_ray(options: RayOptions):
    """Connect to (or start) Ray; returns True if this call started it (the caller shuts it down)."""
    try:
        import ray
    except ImportError as exc:
        raise EngineError("--ray needs Ray: pip install 'ray[data]' (or the project's [ray] extra)") from exc
    if ray.is_initialized():
        return False
    kwargs = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    if options.address == LOCAL:
        ray.init(address="local", num_cpus=options.num_cpus, **kwargs)  # never a cluster found by chance
    else:
        try:
            ray.init(address=options.address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise EngineError(f"cannot connect to the Ray cluster at {options.address!r} ({exc}); start one with "
                              f"`ray start --head` or pass its address") from exc
    return True


def _plan_resources(settings: PrelabelSettings, workers: int | None) -> tuple[int, dict, dict, PrelabelSettings]:
    """(workers, actor resources, CRF task resources, settings for the workers) for the connected cluster."""
    import ray

    total = ray.cluster_resources()
    cpus, gpus = float(total.get("CPU", 1)), int(total.get("GPU", 0))
    use_gpu = gpus > 0 and settings.device != "cpu"
    workers = int(workers or (gpus if use_gpu else 2))
    if workers < 1:
        raise EngineError(f"Ray needs at least one model worker, got {workers}")
    if use_gpu:
        actor = {"num_gpus": 1, "num_cpus": 1}
        settings = replace(settings, device="cuda")
    else:
        # the actors must leave CPUs for the CRF tasks, or those would wait until every image went through the
        # network (on 2 CPUs with 2 workers: half a CPU per actor, one CPU for a CRF at a time)
        actor = {"num_cpus": max(0.25, min(float(settings.net_threads or 1), cpus / (2 * workers)))}
        settings = replace(settings, device="cpu")
    crf = {"num_cpus": 1}
    if settings.crf_threads is None:  # as many numba threads as the CPUs a CRF task holds: none oversubscribed
        settings = replace(settings, crf_threads=1)
    return workers, actor, crf, settings


def ray_outcomes(items: Iterable[Item], loaded, settings: PrelabelSettings, options: RayOptions = RayOptions(),
                 should_cancel: Callable[[], bool] | None = None, stats: dict | None = None) -> Iterator[Outcome]:
    """Outcomes as Ray finishes them (any order). ``stats`` (if given) receives the workers' peak RSS in MiB by
    process, {"net_rss": {pid: MiB}, "crf_rss": {pid: MiB}}, and the resources asked for each stage."""
    items = list(items)
    if not items:   # nothing to do: no cluster to start or bother
        return
    started = init_ray(options)
    import ray
    import ray.data

    try:
        _quiet()
        workers, actor, crf, worker_settings = _plan_resources(settings, options.workers)
        if stats is not None:
            stats.update(workers=workers, actor=actor, crf_task=crf, net_rss={}, crf_rss={})
        workers = min(workers, len(items))   # an actor without an image would only cost its start-up
        if stats is not None:
            stats["workers"] = workers
        rows = [{"index": it.index, "name": it.name, "path": it.path} for it in items]
        ds = ray.data.from_items(rows, override_num_blocks=len(rows))
        ds = ds.map(_read_row, fn_kwargs={"settings": worker_settings}, num_cpus=0.25)
        with warnings.catch_warnings():  # max_restarts has no named parameter; Ray warns about the keyword
            warnings.simplefilter("ignore", DeprecationWarning)
            # no restarts: Ray Data keeps the actor class in the object store, and a restart would log an error at
            # start; a lost worker ends the run instead, and running the command again resumes it
            ds = ds.map(_network_actor(loaded, worker_settings), compute=ray.data.ActorPoolStrategy(size=workers),
                        max_restarts=0, **actor)
        ds = ds.map(_refine_row, fn_kwargs={"settings": worker_settings}, **crf)
        for row in ds.iter_rows():
            if should_cancel is not None and should_cancel():
                return
            item = Item(int(row["index"]), row["name"], row["path"])
            if stats is not None:
                for key, pid, rss in (("net_rss", row.get("net_pid"), row.get("net_rss")),
                                      ("crf_rss", row.get("crf_pid"), row.get("crf_rss"))):
                    if pid is not None and rss is not None:
                        stats[key][int(pid)] = max(float(rss), stats[key].get(int(pid), 0.0))
            if row["error"]:
                yield Outcome(item, error=row["error"])
            else:
                yield Outcome(item, labels=row["labels"], mean_uncertainty=float(row["unc"]))
    finally:
        if started:
            ray.shutdown()

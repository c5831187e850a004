"""Personalizing many people at once: one worker process per core.

Sec. 3.2 personalizes each test person from the trained weights, independently of the others (the model is
reset between people), so the people of an evaluation can be personalized in parallel. On a small CPU,
``workers`` processes of one torch thread each finish sooner than one process whose convolutions are split
over the same cores (the demo: benchmarks/SPEED.md, section demo_workers); each person's predictions are those
of a run of `ttpose.personalization.personalize` with as many threads as its worker has.

    from ttpose.people import personalize_people
    preds = personalize_people(model, videos, "online", cfg.ttp, workers=2)   # one Personalized per video

The model (and the reconstruction loss, if given) is sent to each worker once, as a plain pickle: a copy, never
shared memory, so no worker's updates reach another's weights or the caller's. Workers start with ``spawn``
(safe beside torch's thread pools; a script that calls this needs the usual ``if __name__ == "__main__":``).
"""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor, as_completed

import torch
from tqdm.auto import tqdm

from ttpose.config import TTPConfig
from ttpose.data.types import Video
from ttpose.losses import ReconstructionLoss
from ttpose.model import TTPModel
from ttpose.personalization import Personalized, model_ttp_config, personalize

_WORKER: dict = {}  # inside a worker process: the model, loss, mode, config and seed it personalizes with


def auto_workers(people: int, model: TTPModel | None = None) -> int:
    """One worker per torch thread of this process (the cores torch would use), at most one per person; one
    when ``model`` is on an accelerator (its kernels already use the whole device)."""
    if model is not None and any(p.device.type != "cpu" for p in model.parameters()):
        return 1
    return max(1, min(people, torch.get_num_threads()))


def threads_per_worker(workers: int) -> int:
    """Each worker's share of this process's torch threads (at least one)."""
    return max(1, torch.get_num_threads() // workers)


def _start_worker(payload: bytes, threads: int) -> None:
    torch.set_num_threads(threads)
    _WORKER.update(pickle.loads(payload))


def _personalize_one(index: int, video: Video) -> tuple[int, Personalized]:
    w = _WORKER
    return index, personalize(w["model"], video, mode=w["mode"], config=w["config"], loss=w["loss"], seed=w["seed"],
                              progress=False)


def personalize_people(
    model: TTPModel,
    videos: list[Video],
    mode: str,
    config: TTPConfig | None = None,
    loss: ReconstructionLoss | None = None,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
) -> list[Personalized]:
    """`personalize` each video (one person each) from ``model`` in ``mode``, in ``workers`` processes that
    share this process's torch threads (``workers=1``: here, one after another). Returns the predictions in
    the order of ``videos``."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    config = config or model_ttp_config(model)
    with tqdm(total=len(videos), desc=f"evaluate (TTP {mode})", unit="video",
              disable=not progress or len(videos) < 2) as bar:
        if workers == 1 or len(videos) < 2:
            preds = []
            for video in videos:
                preds.append(personalize(model, video, mode=mode, config=config, loss=loss, seed=seed, progress=False))
                bar.update()
            return preds
        workers = min(workers, len(videos))
        payload = pickle.dumps({"model": model, "loss": loss, "mode": mode, "config": config, "seed": seed})
        preds: list[Personalized | None] = [None] * len(videos)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                                 initargs=(payload, threads_per_worker(workers))) as pool:
            futures = [pool.submit(_personalize_one, i, video) for i, video in enumerate(videos)]
            try:
                for future in as_completed(futures):
                    i, preds[i] = future.result()
                    bar.update()
            except BaseException:
                pool.shutdown(cancel_futures=True)  # the people not started yet
                raise
    return preds


__all__ = ["auto_workers", "personalize_people", "threads_per_worker"]

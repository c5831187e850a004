"""Resume state of `ttpose personalize` (`ttpose.video_personalize`): after Ctrl-C, ``--resume`` continues the
run and gives the result of an uninterrupted one.

A run keeps per decoded frame only small arrays (`RunRecord`: frame numbers, boxes, crop regions, the generic and
personalized joints, every update's L_self) besides what personalization has learnt (a `Learner`: the private
model with its optimizer and loss state, the stored crops, the random stream that draws the pairs).
`ResumeState.save` writes both into ``OUT/.ttpose-resume/``, as safetensors, npz without pickles and JSON:

- ``weights-G.safetensors``: the model, optimizer and loss state and torch's RNG state (`ttpose.checkpoint`'s
  flattened form);
- ``crops-G.safetensors``: the crops stored since the save before (append-only: a long video's crops are each
  written once), as one byte array and the lengths;
- ``arrays-G.npz``: the record's arrays;
- ``state.json``, written last: generation G, the files it names, the run's phase and counters, numpy's RNG
  state, a confidence gate's confidences so far (`ttpose.confidence_gate`) and the run's fingerprint. Files it
  does not name are removed.

`ResumeState.load` refuses, in one line naming the folder (`ResumeError`), a state saved by another run (its
fingerprint differs; the message names the first difference) and a damaged one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load_file, safe_open, save_file

from ttpose.atomic import atomic_path, atomic_write_text
from ttpose.checkpoint import flatten_state, unflatten_state
from ttpose.config import TTPConfig, to_dict, with_added_defaults
from ttpose.personalization import CropStore, Personalizer

RESUME_DIR = ".ttpose-resume"
RESUME_FORMAT = "ttpose-video-resume-3"  # 3: the model is its file's SHA-256; 2: the boxes before smoothing


class ResumeError(ValueError):
    """Saved resume state that does not belong to this run; one line naming the folder."""


class Learner(Protocol):
    """What personalization has learnt so far: a `StreamingPersonalizer` (online) has these four attributes."""

    tuner: Personalizer  # the private model, its optimizer and loss state, the update count
    store: CropStore  # the crops stored so far
    rng: np.random.Generator  # draws the (target, source) pairs
    first: int  # the first frame since the last reset (online, ttp.reset_every)


class RunRecord:
    """Per-frame results of pass 1 and of the offline phase (small arrays only), and where the run stands."""

    def __init__(self, num_joints: int):
        self.k = num_joints
        self.frame_ids: list[int] = []  # source frame numbers of the decoded frames
        self.boxes: list[np.ndarray] = []  # each 4: the person box used
        self.centers: list[np.ndarray] = []  # each 2: the crop region's centre
        self.sizes: list[float] = []  # and side
        self.generic_joints: list[np.ndarray] = []  # each K x 2, full-frame pixels
        self.generic_scores: list[np.ndarray] = []  # each K
        self.pers_joints: list[np.ndarray] = []
        self.pers_scores: list[np.ndarray] = []
        self.losses: list[float] = []  # L_self of every update, in order
        self.phase = "frames"  # frames -> updates (offline) -> done
        self.skipped: list[int] = []  # frames the decoder rejected (known after pass 1)
        self.notes: list[str] = []  # one-line decode warnings of pass 1

    def arrays(self) -> dict[str, np.ndarray]:
        def stack(items, shape, dtype=np.float32):
            return np.array(items, dtype).reshape(len(items), *shape)

        k = self.k
        return {"frame_ids": stack(self.frame_ids, (), np.int64), "boxes": stack(self.boxes, (4,)),
                "centers": stack(self.centers, (2,)), "sizes": stack(self.sizes, ()),
                "generic_joints": stack(self.generic_joints, (k, 2)),
                "generic_scores": stack(self.generic_scores, (k,)),
                "pers_joints": stack(self.pers_joints, (k, 2)), "pers_scores": stack(self.pers_scores, (k,)),
                "losses": stack(self.losses, ())}

    def load_arrays(self, a: dict[str, np.ndarray]) -> None:
        self.frame_ids = [int(i) for i in a["frame_ids"]]
        for name in ("boxes", "centers", "generic_joints", "generic_scores", "pers_joints", "pers_scores"):
            setattr(self, name, list(a[name]))
        self.sizes, self.losses = [float(s) for s in a["sizes"]], [float(x) for x in a["losses"]]


def source_fingerprint(path: Path) -> dict:
    """What identifies an input cheaply: a folder's file names and sizes, a file's size and modification time."""
    if path.is_dir():
        files = sorted((p.name, p.stat().st_size) for p in path.iterdir() if p.is_file())
        return {"path": str(path.resolve()), "files": hashlib.sha1(repr(files).encode()).hexdigest()}
    stat = path.stat()
    return {"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def saved_settings(out_dir: Path) -> dict | None:
    """The TTP settings (``ttp`` of the fingerprint) of the run saved in ``OUT/.ttpose-resume/``; None where there
    is none or it cannot be read (`ResumeState.load` then says why). A resume takes a choice made by timing (the
    fast schedule's update) from here, so that a slower or faster moment does not refuse the saved run."""
    try:
        doc = json.loads((Path(out_dir) / RESUME_DIR / "state.json").read_text(encoding="utf-8"))
        return dict(doc["fingerprint"]["ttp"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class ResumeState:
    """``OUT/.ttpose-resume/`` of the run whose ``fingerprint`` (a JSON-able dict) is given (module docstring)."""

    def __init__(self, out_dir: Path, fingerprint: dict):
        self.folder = Path(out_dir) / RESUME_DIR
        self.fingerprint = fingerprint
        self.generation = 0
        self.crop_files: list[str] = []
        self.crops_saved = 0  # stored crops already in crop files

    def exists(self) -> bool:
        return (self.folder / "state.json").exists()

    def save(self, learner: Learner, record: RunRecord) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        gen = self.generation + 1
        tuner, store = learner.tuner, learner.store
        state = {"model": tuner.model.state_dict(), "optimizer": tuner.optimizer.state_dict(),
                 "loss": tuner.loss.state_dict() if tuner.loss is not None else None,
                 "torch_rng": torch.get_rng_state()}
        tensors: dict[str, torch.Tensor] = {}
        skeleton = flatten_state(state, "s", tensors)
        with atomic_path(self.folder / f"weights-{gen}.safetensors") as tmp:
            save_file(tensors, str(tmp), metadata={"state": json.dumps(skeleton)})
        items = store.items[self.crops_saved:]
        crop_files = list(self.crop_files)
        if items:  # append-only: each file holds the crops stored since the previous save
            lengths = np.array([item.size for item in items], np.int64)
            with atomic_path(self.folder / f"crops-{gen}.safetensors") as tmp:
                save_numpy({"bytes": np.concatenate([item.reshape(-1) for item in items]), "lengths": lengths},
                           str(tmp))
            crop_files.append(f"crops-{gen}.safetensors")
        with atomic_path(self.folder / f"arrays-{gen}.npz") as tmp, open(tmp, "wb") as f:
            np.savez(f, **record.arrays())
        doc = {"format": RESUME_FORMAT, "fingerprint": self.fingerprint, "generation": gen,
               "weights": f"weights-{gen}.safetensors", "arrays": f"arrays-{gen}.npz", "crops": crop_files,
               "stored": len(store), "phase": record.phase, "updates": tuner.updates, "first": learner.first,
               "rng": json.dumps(learner.rng.bit_generator.state), "skipped": record.skipped, "notes": record.notes,
               "gate": tuner.gate.state() if tuner.gate is not None else None}  # ttp.*_gate: its confidences so far
        atomic_write_text(self.folder / "state.json", json.dumps(doc))
        self.generation, self.crop_files, self.crops_saved = gen, crop_files, len(store)
        self._remove_unlisted(doc)

    def _remove_unlisted(self, doc: dict) -> None:
        keep = {"state.json", doc["weights"], doc["arrays"], *doc["crops"]}
        for p in self.folder.iterdir():
            if p.name not in keep:
                p.unlink(missing_ok=True)

    def load(self, learner: Learner, record: RunRecord) -> bool:
        """Restore a saved state into ``learner`` and ``record``; False if there is none."""
        path = self.folder / "state.json"
        if not path.is_file():
            return False
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != RESUME_FORMAT:
                raise ValueError(f"format {doc.get('format')!r}")
        except (ValueError, OSError) as exc:
            raise ResumeError(f"{self.folder}: unreadable resume state ({exc}); run without --resume "
                              "to start over") from None
        # options ttpose gained since the run was saved, at their default in this run: the same run
        saved = {**doc["fingerprint"], "ttp": with_added_defaults(doc["fingerprint"].get("ttp"),
                                                                  self.fingerprint.get("ttp"), to_dict(TTPConfig()))}
        if saved != self.fingerprint:  # named: the first difference in the fingerprint's order
            what = next(k for k in [*self.fingerprint, *saved] if saved.get(k) != self.fingerprint.get(k))
            raise ResumeError(f"{self.folder}: saved by a run with a different {what}; run without --resume "
                              "to start over")
        try:
            self._restore(doc, learner, record)
        except ResumeError:
            raise
        except Exception as exc:  # a damaged or partly deleted state folder
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise ResumeError(f"{self.folder}: unreadable resume state ({reason}); run without --resume "
                              "to start over") from None
        return True

    def _restore(self, doc: dict, learner: Learner, record: RunRecord) -> None:
        weights = self.folder / doc["weights"]
        with safe_open(str(weights), framework="pt") as f:
            skeleton = json.loads(f.metadata()["state"])
        state = unflatten_state(skeleton, load_file(str(weights)))
        tuner, store = learner.tuner, learner.store
        tuner.model.load_state_dict(state["model"])
        tuner.optimizer.load_state_dict(state["optimizer"])
        if tuner.loss is not None and state["loss"] is not None:
            tuner.loss.load_state_dict(state["loss"])
        torch.set_rng_state(state["torch_rng"])
        tuner.updates, learner.first = int(doc["updates"]), int(doc["first"])
        learner.rng.bit_generator.state = json.loads(doc["rng"])
        if tuner.gate is not None and doc.get("gate") is not None:  # saved before ttpose kept it: starts afresh
            tuner.gate.load_state(doc["gate"])
        items = []
        for name in doc["crops"]:
            arrays = load_numpy(str(self.folder / name))
            data, lengths = arrays["bytes"], arrays["lengths"]
            items += np.split(data, np.cumsum(lengths)[:-1])
        if store.jpeg_quality is None:
            items = [item.reshape(store.side, store.side, 3) for item in items]
        if len(items) != doc["stored"]:
            raise ResumeError(f"{self.folder}: {len(items)} stored crops, state says {doc['stored']}; "
                              "run without --resume to start over")
        store.items = items
        with np.load(self.folder / doc["arrays"], allow_pickle=False) as arrays:
            record.load_arrays(dict(arrays))
        record.phase = doc["phase"]
        record.skipped, record.notes = [int(i) for i in doc["skipped"]], [str(n) for n in doc["notes"]]
        self.generation, self.crop_files, self.crops_saved = int(doc["generation"]), list(doc["crops"]), len(items)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


__all__ = ["RESUME_DIR", "Learner", "ResumeError", "ResumeState", "RunRecord", "saved_settings", "source_fingerprint"]

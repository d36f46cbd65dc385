"""The loop: :func:`train` and :func:`resume`, one epoch after another with a checkpoint after
each, progress, Ctrl-C, divergence, and the final metrics and plots."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cnnlab import _io, _progress, plots
from cnnlab.data.prepare import STEPS, scale_pixels
from cnnlab.errors import ArgumentError, RunError, TrainingInterrupted
from cnnlab.tasks import get_task
from cnnlab.training.checkpoints import defer_sigint, promote_model, save_checkpoint
from cnnlab.training.config import HISTORY_KEYS, TrainConfig
from cnnlab.training.distribute import as_worker, engine_for, setup
from cnnlab.training.divergence import (
    Diverged,
    LossWatch,
    TrainingDiverged,
    check_finite_epoch,
    check_finite_inputs,
    warn_default,
)
from cnnlab.training.engines import Engine
from cnnlab.training.feed import (
    StreamFeed,
    augmentation,
    epoch_images,
    skipped_note,
    stream_predict,
)
from cnnlab.training.inference import split_metrics
from cnnlab.training.killpoints import kill_point
from cnnlab.training.rundata import class_weights, load_data, no_face_note, stream_notice
from cnnlab.training.rundir import (
    LOCK_FILE,
    Run,
    check_outputs,
    discard_run,
    epoch_metrics,
    load_run,
    remove_leftovers,
    run_lock,
    stopped_early,
    unstarted,
    write_history_csv,
    write_json,
)
from cnnlab.training.shifted import shifted_metrics
from cnnlab.training.tensorboard import TensorBoardLog, confusion_png


class _Progress:
    """A rich progress bar per epoch, or one plain line per epoch when not a terminal."""

    def __init__(self, enabled: bool, log: Callable[[str], None] | None):
        self.enabled = enabled
        self.log = log
        self._bar = None

    def __enter__(self):
        if self.enabled:
            self._bar = _progress.rich_bar("steps")
            self._bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def epoch(self, epoch: int, epochs: int, steps: int) -> Callable[[int, dict], None] | None:
        if self._bar is None:
            return None
        task = self._bar.add_task(f"epoch {epoch + 1}/{epochs}", total=steps, stats="")
        self._task, self._steps = task, steps

        def update(step: int, logs: dict) -> None:
            stats = _stats(logs)
            self._bar.update(task, completed=step, stats=stats)

        return update

    def end_epoch(self, epoch: int, epochs: int, logs: dict, seconds: float) -> None:
        stats = _stats(logs)
        if self._bar is not None:
            self._bar.update(self._task, completed=self._steps, stats=stats)
        elif self.log is not None:
            self.log(f"epoch {epoch + 1}/{epochs}  {stats}  ({seconds:.1f}s)")


def _stats(logs: dict) -> str:
    short = {"loss": "loss", "accuracy": "acc", "val_loss": "val_loss", "val_accuracy": "val_acc"}
    return "  ".join(f"{short[k]} {_short(logs[k])}" for k in HISTORY_KEYS if k in logs)


def _short(value: float) -> str:
    """4 decimals for ordinary values; 4 significant digits for huge or non-finite ones."""
    value = float(value)
    return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"


def _default_out(cfg: TrainConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.task}-{cfg.model}-{cfg.engine}-{stamp}"


def train(
    config: TrainConfig,
    *,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
    memory_budget: int | None = None,
) -> Run:
    """Train a new run as ``config`` says; write the run directory; return the :class:`Run`.

    Args:
        config: what to train. ``config.out`` must not already hold files (except for a
            ``distribute="multiworker"`` job restarted on its own run directory, which
            continues from its checkpoint as Keras's ``BackupAndRestore`` does).
        progress: a rich progress bar per epoch (default: when stdout is a terminal).
        log: called with one line per epoch when the bar is off, and with notices.
        warn: called with a one-line warning (a loss that grows by orders of magnitude,
            images skipped while streaming); default: :func:`warnings.warn` with a
            ``RuntimeWarning``.
        memory_budget: bytes the in-memory data may take (default: a quarter of the RAM);
            above it the run streams its images from disk (``config.stream``), and says so.

    Raises:
        ValueError: a bad option. DatasetError: the data cannot be loaded.
        RunError: ``config.out`` already holds files.
        TrainingDiverged: the loss became non-finite (the last finite checkpoint is kept).
        TrainingInterrupted: Ctrl-C; the message says what was kept. Nothing is kept when
            no epoch had finished: the new run directory is removed.
    """
    cfg = config.resolved()
    out = Path(cfg.out) if cfg.out else _default_out(cfg)
    cfg = dataclasses.replace(cfg, out=str(out))
    dist = setup(cfg)  # first: TensorFlow's devices are set before anything uses them
    if dist is not None and log is not None:
        log(dist.describe(cfg.batch_size))
    if not cfg.stream:
        notice = stream_notice(cfg, memory_budget)
        if notice is not None:
            cfg = dataclasses.replace(cfg, stream=True)
            if log is not None:
                log(notice)
    if dist is not None and dist.kind == "multiworker":

        def start(c: TrainConfig) -> Run:
            return _train(c, Path(c.out), progress, log, warn)

        def restart(path: Path) -> Run:
            return resume(path, epochs=cfg.epochs, progress=progress, log=log, warn=warn)

        return as_worker(cfg, out, dist, start, restart, log)
    return _train(cfg, out, progress, log, warn)


def _train(cfg: TrainConfig, out: Path, progress, log, warn) -> Run:
    """Make the run folder, hold it (:func:`~cnnlab.training.rundir.run_lock`) and train."""
    if out.exists() and not out.is_dir():
        raise RunError(
            f"{out}: already exists and is not empty; continue it with --resume {out} "
            "or choose another --out"
        )
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with run_lock(out):
            return _train_locked(cfg, out, progress, log, warn, created)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only when nothing was kept in it
        raise


def _reusable(out: Path) -> bool:
    """Whether ``out`` is the start of a run stopped before its first epoch (a readable
    config.json and class_names.json, maybe summary.txt, stale temporaries, nothing else)."""
    if not unstarted(out) or not (out / "class_names.json").is_file():
        return False
    try:
        TrainConfig.from_json(json.loads((out / "config.json").read_text()))
    except (OSError, ValueError, TypeError):
        return False
    return True


def _train_locked(cfg: TrainConfig, out: Path, progress, log, warn, created: bool) -> Run:
    if any(p.name != LOCK_FILE for p in out.iterdir()):
        if not _reusable(out):
            raise RunError(
                f"{out}: already exists and is not empty; continue it with --resume {out} "
                "or choose another --out"
            )
        if log is not None:
            log(
                f"{out}: holds only the start of a run stopped before its first epoch; "
                "starting it again"
            )
        for leftover in out.iterdir():
            if leftover.name != LOCK_FILE and leftover.is_file():
                leftover.unlink()
    try:
        ds = load_data(cfg, progress=progress, streamed=True)
        get_task(cfg.task).check_classes(ds.n_classes, cfg.data)
        _check_patience(cfg, ds)
        engine = engine_for(cfg)
        model = engine.build(cfg, ds.image_shape, ds.n_classes)
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            "interrupted before training started; nothing was written"
        ) from None
    run = Run(out, cfg, list(ds.class_names))
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", cfg.to_json())
        write_json(out / "class_names.json", list(ds.class_names))
        _io.write_text(out / "summary.txt", engine.summary(model))
    except KeyboardInterrupt:
        discard_run(run, created)
        raise TrainingInterrupted(
            f"interrupted before the first epoch; nothing was kept ({out} was removed)"
        ) from None
    return _loop(run, model, ds, progress=progress, log=log, warn=warn, created=created)


def resume(
    run_dir: str | os.PathLike,
    *,
    epochs: int | None = None,
    patience: int | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Run:
    """Continue a run from its last checkpoint (model, optimizer state, history, epoch, best
    epoch).

    Everything is checked before anything is written: a refused resume leaves the run
    byte-identical. When training continues, the leftovers of an interrupted checkpoint
    write (temporaries, a model file checkpoint.json does not name) are removed first.

    Args:
        run_dir: the run directory.
        epochs: train up to this many epochs in all (default: the run's own).
        patience: a new early-stopping patience (default: the run's own); a run that stopped
            early trains on when this is larger than the epochs it waited.

    Raises:
        RunError: not a run, or nothing left to do (all epochs done, or stopped early).
        TrainingDiverged,
        TrainingInterrupted: as for :func:`train`.
    """
    if Path(run_dir).is_dir() and unstarted(Path(run_dir)):
        raise RunError(
            f"{run_dir}: was stopped before its first epoch ended, so there is nothing to "
            f"resume; start it again with cnnlab train --out {run_dir} (the folder is reused)"
        )
    load_run(run_dir)  # a run, or one clear error, before anything is locked or written
    with run_lock(Path(run_dir)):
        return _resume_locked(run_dir, epochs, patience, progress, log, warn)


def _resume_locked(run_dir, epochs, patience, progress, log, warn) -> Run:
    run = load_run(run_dir)
    cfg = run.config
    if epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=epochs)  # validates epochs
    if patience is not None:
        cfg = dataclasses.replace(cfg, patience=patience)  # validates patience
    done = run.epochs_done
    if done >= cfg.epochs and run.metrics is not None and epochs is None and _missing_plots(run):
        return _redraw_plots(run, progress, log)
    if done > cfg.epochs or (done >= cfg.epochs and run.metrics is not None):
        raise RunError(
            f"{run.dir}: already trained {done} of {run.config.epochs} epochs; "
            f"pass --epochs larger than {done} to train longer"
        )
    stopped = stopped_early(cfg, run)
    if stopped is not None and run.metrics is not None:
        waited = done - stopped["best_epoch"]
        raise RunError(
            f"{run.dir}: stopped early after epoch {done}: the validation loss had not "
            f"improved for {waited} epoch{'s' if waited != 1 else ''} (best: epoch "
            f"{stopped['best_epoch']}); pass --patience larger than {waited} to train on"
        )
    dist = setup(cfg)  # first: TensorFlow's devices are set before anything uses them
    if dist is not None and log is not None:
        log(dist.describe(cfg.batch_size))
    engine = engine_for(cfg)
    model = engine.load_for_training(run.last_path)  # the last epoch's, even if not the model
    check_outputs(run, model)
    try:
        ds = load_data(cfg, progress=progress, streamed=True)
    except KeyboardInterrupt:
        raise TrainingInterrupted(f"interrupted before training; {run.dir} is unchanged") from None
    if list(ds.class_names) != run.class_names:
        raise RunError(
            f"{run.dir}: the data's classes {ds.class_names} differ from the run's "
            f"{run.class_names}"
        )
    _check_patience(cfg, ds)
    # From here on the run changes.
    remove_leftovers(run)
    if cfg != run.config:
        run.config = cfg
        write_json(run.dir / "config.json", cfg.to_json())
    if log is not None:
        log(f"resuming {run.dir} after epoch {run.epochs_done}")
    return _loop(run, model, ds, progress=progress, log=log, warn=warn, created=False)


def _loop(run: Run, model, ds, *, progress: bool | None, log, warn, created: bool) -> Run:
    cfg = run.config
    engine = engine_for(cfg)
    streamed = getattr(ds, "streamed", False)
    bs = engine.global_batch(cfg)
    spec = augmentation(cfg, ds.image_shape)
    note = no_face_note(ds, cfg.preprocess)
    if note is not None and log is not None:
        log(note)
    if streamed:
        x_tr = y_tr = None
        val = StreamFeed(ds, "val", cfg, bs) if len(ds.x_val) else None
    else:
        task = get_task(cfg.task)
        x_tr, y_tr = scale_pixels(ds.x_train), task.targets(ds.y_train)
        val = (scale_pixels(ds.x_val), task.targets(ds.y_val)) if len(ds.x_val) else None
    class_weight = class_weights(ds, cfg.class_weight)
    steps = -(-len(ds.y_train) // bs)
    enabled = _progress.enabled(progress)
    history = {k: list(v) for k, v in run.history.items()}
    first = history["loss"][0] if history.get("loss") else None
    watch = LossWatch(first, warn or warn_default, float(cfg.learning_rate))
    epoch = run.epochs_done
    board = None
    try:
        if not streamed:
            check_finite_inputs(cfg, [x_tr] if val is None else [x_tr, val[0]])
        if cfg.tensorboard:
            board = TensorBoardLog(run.dir)
        with _Progress(enabled, log) as bar:
            for epoch in range(run.epochs_done, cfg.epochs):
                if stopped_early(cfg, run):
                    break
                t0 = time.perf_counter()
                model = engine.prepare_epoch(model, cfg, epoch)
                engine.set_seed(model, cfg.seed, epoch)
                lr = cfg.learning_rate_at(epoch)
                engine.set_learning_rate(model, lr)
                shown = bar.epoch(epoch, cfg.epochs, steps)

                def on_batch(step, logs, shown=shown):
                    watch.batch(step, logs)
                    if shown is not None:
                        shown(step, logs)

                if streamed:
                    x_ep = StreamFeed(ds, "train", cfg, bs, epoch=epoch, spec=spec)
                elif spec is None:
                    x_ep = x_tr
                else:
                    x_ep = epoch_images(ds.x_train, spec, cfg.seed, epoch)
                try:
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                        logs = engine.fit_epoch(
                            model, x_ep, y_tr, val, epoch, cfg, class_weight, on_batch
                        )
                    check_finite_epoch(model, logs)
                    skipped = skipped_note(ds, epoch)
                    if skipped is not None:
                        (warn or warn_default)(skipped)
                except Diverged as exc:
                    _diverged(run, engine, ds, epoch, exc, created)
                logs["learning_rate"] = lr
                watch.check_growth(float(logs["loss"]), f"epoch {epoch + 1}")
                for k, v in logs.items():
                    history.setdefault(k, []).append(v)
                seconds = run.train_seconds + time.perf_counter() - t0
                with defer_sigint():
                    save_checkpoint(run, engine, model, history, epoch + 1, seconds)
                    if board is not None:
                        _log_tensorboard(board, engine, model, ds, run, logs)
                bar.end_epoch(epoch, cfg.epochs, logs, time.perf_counter() - t0)
        _finish(run, engine, model, ds)
    except KeyboardInterrupt:
        raise TrainingInterrupted(_interrupted_message(run, epoch, created)) from None
    except Exception:
        if run.epochs_done == 0:  # a new run that kept nothing: leave no half-made run behind
            discard_run(run, created)
        raise
    finally:
        if board is not None:
            board.close()
    return run


def _check_patience(cfg: TrainConfig, ds) -> None:
    if cfg.patience is not None and not len(ds.x_val):
        raise ArgumentError(
            "patience watches the validation loss, and this run has no validation images. "
            f"Received: patience={cfg.patience}, val_fraction={cfg.val_fraction}"
        )


def _log_tensorboard(board, engine: Engine, model, ds, run: Run, logs: dict) -> None:
    """One epoch to TensorBoard: its history row, and the validation confusion matrix."""

    png = None
    if len(ds.x_val):
        probs, y = _predict_split(engine, model, ds, "val", run.config)
        labels, _ = get_task(run.config.task).labels(probs)
        png = confusion_png(y, labels, run.class_names, run.epochs_done)
    board.epoch(run.epochs_done, logs, png)


def _interrupted_message(run: Run, epoch: int, created: bool) -> str:
    done = run.epochs_done
    if done == 0:
        discard_run(run, created)
        gone = f"{run.dir} was removed" if not run.dir.exists() else f"cleared {run.dir}"
        return (
            f"interrupted in epoch {epoch + 1}; no epoch had finished, so nothing was kept ({gone})"
        )
    where = (
        f"in epoch {epoch + 1}"
        if done < run.config.epochs
        else "while writing the final metrics and plots"
    )
    return (
        f"interrupted {where}; {done} epoch{'s' if done != 1 else ''} "
        f"{'are' if done != 1 else 'is'} saved in {run.dir}; "
        f"resume with: cnnlab train --resume {run.dir}"
    )


def _diverged(run: Run, engine: Engine, ds, epoch: int, exc: Diverged, created) -> None:
    """Keep the last finite checkpoint as the run's model and raise TrainingDiverged."""
    cfg = run.config
    where = f"epoch {epoch + 1}, batch {exc.batch}" if exc.batch else f"epoch {epoch + 1}"
    hint = f"try a smaller --lr (now {cfg.learning_rate:g}) or check the input data for NaN/Inf"
    if run.epochs_done == 0:
        discard_run(run, created)
        gone = f"{run.dir} was removed" if not run.dir.exists() else f"cleared {run.dir}"
        raise TrainingDiverged(
            f"training diverged in {where}: {exc.what}; no epoch had finished, so nothing "
            f"was kept ({gone}); {hint}",
            None,
            epoch + 1,
            exc.batch,
        )
    model = engine.load(run.model_path)
    _finish(run, engine, model, ds, diverged={"epoch": epoch + 1, "batch": exc.batch})
    raise TrainingDiverged(
        f"training diverged in {where}: {exc.what}; kept epoch {run.epochs_done}'s model "
        f"in {run.dir} (metrics.json is from it); {hint}",
        run,
        epoch + 1,
        exc.batch,
    )


def _predict_split(engine: Engine, model, ds, split: str, cfg: TrainConfig):
    """``(probabilities, labels)`` of a split, in memory or streamed."""
    if getattr(ds, "streamed", False):
        return stream_predict(engine, model, ds, split, cfg, cfg.batch_size)
    x, y = ds.split(split)
    return engine.predict(model, scale_pixels(x), cfg.batch_size), y


def validated_on(cfg: TrainConfig, ds) -> str:
    """One line for the report: what the model was validated and tested on."""
    name = ds.name if ds.meta.get("kind") in ("builtin", "named") else ds.source
    if ds.meta.get("kind") == "h5" and ds.meta.get("test_file"):
        split = f"the file's own test set ({len(ds.x_test)} images)"
    else:
        split = f"{cfg.test_fraction:.0%} of each class ({len(ds.x_test)} images)"
    line = (
        f"validated on {cfg.val_fraction:.0%} of each class of {name} ({len(ds.x_val)} images), "
        f"tested on {split}; split seed {cfg.seed}; "
        f"{cfg.image_size[0]}x{cfg.image_size[1]} {'gray' if cfg.grayscale else 'RGB'}"
    )
    if getattr(ds, "streamed", False):
        line += "; streamed from disk"
    elif cfg.preprocess != "none":
        missing, step = ds.meta.get("no_face", 0), STEPS[cfg.preprocess]
        n = ds.meta.get("n_images", len(ds))
        line += f"; {step.what}s {step.done} (none found in {missing} of {n})"
    return line


def _finish(run: Run, engine: Engine, model, ds, diverged: dict | None = None) -> None:

    cfg = run.config
    promote_model(run)
    if run.model_epoch != run.epochs_done:  # the best epoch's weights are the run's model
        model = engine.load(run.model_path)
    # A kill after checkpoint.json but before history.csv leaves it an epoch behind.
    write_history_csv(run.dir / "history.csv", run.history)
    metrics = split_metrics(engine, model, ds, cfg)
    metrics["epochs"] = run.epochs_done
    metrics["model_epoch"] = run.model_epoch
    metrics["final_epoch"] = epoch_metrics(run.history, run.epochs_done)
    if run.best is not None:
        metrics["best_epoch"] = epoch_metrics(run.history, run.best["epoch"])
    stopped = stopped_early(cfg, run)
    if stopped is not None:
        metrics["stopped_early"] = stopped
    metrics["train_seconds"] = round(run.train_seconds, 3)
    metrics["engine"] = cfg.engine
    metrics["model"] = cfg.model
    if diverged is not None:
        metrics["diverged"] = diverged
    metrics["validated_on"] = validated_on(cfg, ds)
    test = metrics.get("test")
    if test is not None and not getattr(ds, "streamed", False):
        shifted = shifted_metrics(engine, model, cfg, test["accuracy"], ds)
        if shifted is not None:
            metrics["shifted"] = shifted
    write_json(run.dir / "metrics.json", metrics)
    run.metrics = metrics
    _draw_plots(run, engine, model, ds)


def _draw_plots(run: Run, engine: Engine, model, ds) -> None:
    """learning_curves.png, and confusion_matrix.png of the test (else validation) split."""
    cfg = run.config
    kill_point("plots", run.epochs_done)
    _io.save_figure(plots.plot_learning_curves(run.history), run.dir / "learning_curves.png")
    split = "test" if len(ds.x_test) else "val"
    if len(ds.y_test) or len(ds.y_val):
        probs, y_eval = _predict_split(engine, model, ds, split, cfg)
        labels, _ = get_task(cfg.task).labels(probs)
        title = "Confusion matrix (test set)" if len(ds.x_test) else "Confusion matrix (validation)"
        fig = plots.plot_confusion_matrix(y_eval, labels, run.class_names, title=title)
        _io.save_figure(fig, run.dir / "confusion_matrix.png")


def _missing_plots(run: Run) -> bool:
    """Whether a finished run lacks a plot it draws at the end (a kill during the plots)."""
    wanted = ["learning_curves.png"]
    if (run.metrics or {}).get("test") or (run.metrics or {}).get("validation"):
        wanted.append("confusion_matrix.png")
    return any(not (run.dir / name).is_file() for name in wanted)


def _redraw_plots(run: Run, progress, log) -> Run:
    """Complete a finished run whose plots were not all drawn: nothing else changes."""
    engine = engine_for(run.config)
    model = engine.load(run.model_path)
    ds = load_data(run.config, progress=progress, streamed=True)
    _draw_plots(run, engine, model, ds)
    if log is not None:
        log(f"{run.dir}: was finished but its plots were not all drawn; drew them")
    return run

"""``cnnlab train | evaluate | predict | show``: thin commands over :mod:`cnnlab.training`
(and :func:`cnnlab.interpret.show`)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from cnnlab.cli._common import parse_bytes, parse_image_size, report_interrupt
from cnnlab.errors import ArgumentError, CnnlabError, TrainingInterrupted

# Typer lists these in --help and refuses anything else with its usage message (exit 2).
# They equal cnnlab.training's TASKS, ENGINES, MODELS, SCHEDULES and PREPROCESS (a test checks it),
# spelled out here so that `cnnlab --help` does not import NumPy.
Task = Literal["mood", "signs"]
Engine = Literal["keras", "numpy"]
ModelName = Literal["course", "recommended", "transfer"]
Schedule = Literal["constant", "cosine"]
Preprocess = Literal["none", "face", "hand"]
Distribute = Literal["none", "mirrored", "multiworker"]

TASK_HELP = "mood (binary: smiling or not) or signs (multiclass)."
ENGINE_HELP = "keras or numpy (the NumPy engine)."
RUN_ENGINE_HELP = (
    "The engine that runs the model: numpy (no TensorFlow; it reads a Keras run's "
    "model.keras too) or keras. (default: numpy, or keras with a note when the model has a "
    "layer the NumPy engine lacks)"
)


def _log(message: str) -> None:
    print(message, flush=True)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def train(
    task: Annotated[Task | None, typer.Option(help=TASK_HELP + " (default: signs)")] = None,
    engine: Annotated[Engine | None, typer.Option(help=ENGINE_HELP + " (default: keras)")] = None,
    model: Annotated[
        ModelName | None,
        typer.Option(
            help="course, recommended or transfer (fer's pretrained expression backbone with a "
            "new head; mood only, either engine). (default: transfer for mood, recommended "
            "for signs)"
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            help="digits, signs, smiles, a folder of class subfolders or a course .h5 file. "
            "(default: digits for signs, smiles for mood)"
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(help="Epochs in all. (default: 15; 6 for --model transfer)")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Mini-batch size. (default: 32)")] = None,
    seed: Annotated[int | None, typer.Option(help="Split, weights and shuffle seed.")] = None,
    out: Annotated[
        str | None, typer.Option(help="Run directory. (default: runs/TASK-MODEL-ENGINE-TIME)")
    ] = None,
    learning_rate: Annotated[
        float | None, typer.Option("--learning-rate", "--lr", help="Adam's learning rate.")
    ] = None,
    image_size: Annotated[
        str | None,
        typer.Option(help="Resize images to N or HxW. (default: 16 for digits, else 64)"),
    ] = None,
    grayscale: Annotated[
        bool | None,
        typer.Option("--grayscale/--rgb", help="One channel or RGB. (default: gray for digits)"),
    ] = None,
    class_weight: Annotated[
        bool | None,
        typer.Option(
            "--class-weight/--no-class-weight",
            help="Weight the loss by inverse class frequency. (default: on for --model "
            "transfer, else off)",
        ),
    ] = None,
    augment: Annotated[
        bool | None,
        typer.Option(
            "--augment/--no-augment",
            help="Augment the training images each epoch (recommended models, both engines). "
            "(default: on)",
        ),
    ] = None,
    preprocess: Annotated[
        Preprocess | None,
        typer.Option(
            help="none; face: find, align and crop the face first; hand: draw the hand's pose "
            "(landmarks and bones, levelled, on black) instead of the photo (in training, "
            "evaluate, predict and show alike). (default: face for mood, hand for signs, "
            "none for the built-in digits)"
        ),
    ] = None,
    schedule: Annotated[
        Schedule | None,
        typer.Option(
            help="Learning rate per epoch: constant or cosine. "
            "(default: cosine for recommended, constant for course)"
        ),
    ] = None,
    unfreeze_epoch: Annotated[
        int | None,
        typer.Option(
            help="--model transfer: the first epoch (from 0) that fine-tunes the backbone's "
            "top block; the epochs before it train the head only. (default: a third of "
            "--epochs, at least 1)"
        ),
    ] = None,
    patience: Annotated[
        int | None,
        typer.Option(
            help="Stop when the validation loss has not improved for N epochs. (default: "
            "train all epochs)"
        ),
    ] = None,
    restore_best: Annotated[
        bool | None,
        typer.Option(
            "--restore-best/--keep-last",
            help="The run's model: the epoch with the lowest validation loss, or the last "
            "epoch. (default: restore-best)",
        ),
    ] = None,
    tensorboard: Annotated[
        bool,
        typer.Option(
            "--tensorboard", help="Also log to RUN/tensorboard/ (uv run tensorboard --logdir runs)."
        ),
    ] = False,
    stream: Annotated[
        bool,
        typer.Option(
            "--stream",
            help="Read the images from disk a batch at a time instead of decoding the whole "
            "set into memory (same split; automatic above --memory-budget).",
        ),
    ] = False,
    memory_budget: Annotated[
        str | None,
        typer.Option(
            help="Memory the decoded images may take, e.g. 2G or 500M; above it the run "
            "streams. (default: a quarter of the RAM)"
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="While streaming, stop at the first unreadable image instead of skipping "
            "and reporting it.",
        ),
    ] = False,
    distribute: Annotated[
        Distribute | None,
        typer.Option(
            help="none, mirrored (every local GPU, else the CPU's logical devices) or "
            "multiworker (TF_CONFIG); Keras engine only. --batch-size is per replica. "
            "(default: none)"
        ),
    ] = None,
    cpu_replicas: Annotated[
        int | None,
        typer.Option(
            help="Split the CPU into N logical devices for --distribute (try the distributed "
            "path without GPUs)."
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Continue this run from its last checkpoint (with --epochs: train longer; "
            "with --patience: past an early stop)."
        ),
    ] = None,
) -> None:
    """Train a model and write a run directory (model, history, metrics, plots).

    With no options: the recommended Keras model on the built-in 8x8 digits upscaled to
    16x16 (grayscale), 15 epochs; under a minute on 2 cores.
    """
    from cnnlab import training

    if resume is not None:
        given = {
            "--task": task,
            "--engine": engine,
            "--model": model,
            "--data": data,
            "--batch-size": batch_size,
            "--seed": seed,
            "--out": out,
            "--learning-rate": learning_rate,
            "--image-size": image_size,
            "--grayscale/--rgb": grayscale,
            "--class-weight/--no-class-weight": class_weight,
            "--augment/--no-augment": augment,
            "--schedule": schedule,
            "--preprocess": preprocess,
            "--restore-best/--keep-last": restore_best,
            "--tensorboard": tensorboard or None,
            "--stream": stream or None,
            "--memory-budget": memory_budget,
            "--strict": strict or None,
            "--distribute": distribute,
            "--cpu-replicas": cpu_replicas,
            "--unfreeze-epoch": unfreeze_epoch,
        }
        extra = [k for k, v in given.items() if v is not None]
        if extra:
            raise ArgumentError(
                f"--resume continues a run with its own settings; only --epochs and --patience "
                f"may be given with it. Received: {', '.join(extra)}"
            )
        run = _interruptible(
            training.resume, resume, epochs=epochs, patience=patience, log=_log, warn=_warn
        )
    else:
        options = {
            "task": task,
            "engine": engine,
            "model": model,
            "data": data,
            "epochs": epochs,
            "batch_size": batch_size,
            "seed": seed,
            "out": out,
            "learning_rate": learning_rate,
            "image_size": parse_image_size(image_size),
            "grayscale": grayscale,
            "schedule": schedule,
            "preprocess": preprocess,
            "patience": patience,
            "restore_best": restore_best,
            "distribute": distribute,
            "cpu_replicas": cpu_replicas,
            "unfreeze_epoch": unfreeze_epoch,
        }
        config = training.TrainConfig(
            **{k: v for k, v in options.items() if v is not None},
            class_weight=class_weight,
            augment=augment is not False,
            tensorboard=tensorboard,
            stream=stream,
            strict=strict,
        )
        budget = parse_bytes(memory_budget, "--memory-budget")
        run = _interruptible(training.train, config, log=_log, warn=_warn, memory_budget=budget)
    _print_epochs(run.metrics or {})
    _print_metrics(run.metrics or {})
    _print_report(run.metrics or {})
    print(f"run: {run.dir}")


def _interruptible(fn, *args, **kwargs):
    """Run ``training.train`` / ``resume``; Ctrl-C says what was kept and exits 130."""
    try:
        return fn(*args, **kwargs)
    except TrainingInterrupted as exc:
        sys.stdout.flush()
        report_interrupt(str(exc))
        raise typer.Exit(130) from None


def _print_epochs(metrics: dict) -> None:
    """Why training stopped early, and which epoch's weights the run's model holds."""
    stopped = metrics.get("stopped_early")
    if stopped:
        waited = stopped["epoch"] - stopped["best_epoch"]
        print(
            f"stopped early after epoch {stopped['epoch']}: the validation loss had not "
            f"improved for {waited} epoch{'s' if waited != 1 else ''} (patience "
            f"{stopped['patience']})"
        )
    best = metrics.get("best_epoch")
    if best and "model_epoch" in metrics:
        which = "the best" if metrics["model_epoch"] == best["epoch"] else "the last"
        print(
            f"model: epoch {metrics['model_epoch']} ({which}; lowest validation loss "
            f"{best['val_loss']:.4f} in epoch {best['epoch']})"
        )


def _number(value: float, width: int) -> str:
    """A loss right-aligned in ``width``: 4 decimals while it fits, else 4 significant digits."""
    text = f"{value:.4f}"
    if len(text) > width - 2 or not math.isfinite(value):
        text = f"{value:.4g}"
    return f"{text:>{width}}"


def _print_metrics(metrics: dict) -> None:
    print(f"{'split':<12}{'images':>8}{'loss':>12}{'accuracy':>10}")
    for split in ("train", "validation", "test"):
        m = metrics.get(split)
        if m:
            print(f"{split:<12}{m['n']:>8}{_number(m['loss'], 12)}{m['accuracy']:>10.2%}")


def _print_report(metrics: dict) -> None:
    """What the model was validated on, and its accuracy on shifted copies of the test set."""
    if metrics.get("validated_on"):
        print(metrics["validated_on"])
    shifted = metrics.get("shifted")
    if shifted:
        kinds = [k for k in shifted if k not in ("n", "mean", "ratio", "no_face", "in_domain")]
        parts = ", ".join(f"{k} {shifted[k]:.1%}" for k in kinds)
        ratio = f" ({shifted['ratio']:.2f} of in-domain)" if shifted.get("ratio") else ""
        print(f"shifted test accuracy: {parts}; mean {shifted['mean']:.1%}{ratio}")


def evaluate(
    run: Annotated[Path, typer.Argument(help="A run directory.")],
    data: Annotated[
        str | None,
        typer.Option(
            help="Evaluate on all of this dataset (a name, folder or course .h5 file) instead "
            "of the run's splits; its classes are matched to the run's by name."
        ),
    ] = None,
    class_map: Annotated[
        str | None,
        typer.Option(
            help="With --data: rename the data's classes to the run's, e.g. "
            "0=not_smiling,1=smiling."
        ),
    ] = None,
    engine: Annotated[Engine | None, typer.Option(help=RUN_ENGINE_HELP)] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the metrics as JSON (nothing else).")
    ] = False,
) -> None:
    """Loss and accuracy of a run's model on its own splits, or on all of --data."""
    import json

    from cnnlab import training
    from cnnlab.data.prepare import STEPS

    if class_map is not None and data is None:
        raise ArgumentError("--class-map renames the classes of --data; give --data with it")
    mapping = _parse_class_map(class_map)
    metrics = training.evaluate_run(
        run, data, engine=engine, class_map=mapping, progress=False if as_json else None
    )
    if as_json:
        print(json.dumps(metrics, indent=2))
        return
    if data is not None:
        print(f"evaluated on all {metrics['test']['n']} images of {_source_files(data)}")
        if metrics.get("no_face"):
            step = STEPS[metrics["preprocess"]]
            print(
                f"no {step.what} found in {metrics['no_face']} of them; "
                f"used {step.instead} for those"
            )
        if metrics["restricted"]:
            n_run = len(training.load_run(run).class_names)
            classes = metrics["classes"]
            print(
                f"evaluated on {len(classes)} of the run's {n_run} classes: "
                f"{', '.join(classes)} (predictions restricted to them)"
            )
    _print_metrics(metrics)


def _source_files(data: str) -> str:
    """``data``, and both file names when it is (or names) a course pair: both were used."""
    from cnnlab.data.h5 import find_h5_pair

    path = Path(data)
    if not path.is_dir():  # a file named on its own is that file alone
        return data
    try:
        train_file, test_file = find_h5_pair(path)
    except (CnnlabError, OSError):  # a folder of class subfolders
        return data
    if train_file is None or test_file is None:
        return data
    return f"{data} ({train_file.name} + {test_file.name})"


def _parse_class_map(text: str | None) -> dict[str, str] | None:
    """``--class-map``: ``"0=not_smiling,1=smiling"`` -> ``{"0": "not_smiling", ...}``."""
    if text is None:
        return None
    mapping: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key or not value or "=" in value or key in mapping:
            raise ArgumentError(
                "--class-map must be DATA=RUN pairs separated by commas, each data class once, "
                f"e.g. 0=not_smiling,1=smiling. Received: --class-map {text!r}"
            )
        mapping[key] = value
    return mapping


def predict(
    run: Annotated[Path, typer.Argument(help="A run directory.")],
    images: Annotated[
        list[Path], typer.Argument(help="Image files: JPEG, PNG, BMP, GIF, TIFF or WebP, any size.")
    ],
    engine: Annotated[Engine | None, typer.Option(help=RUN_ENGINE_HELP)] = None,
    top_k: Annotated[
        int | None,
        typer.Option("--top-k", help="Print the K most probable classes of each image."),
    ] = None,
) -> None:
    """Class name and probability for each image (or its K most probable classes)."""
    from cnnlab import training

    def note(line: str) -> None:
        sys.stdout.flush()
        print(f"note: {line}", file=sys.stderr, flush=True)

    results = training.predict_images(
        run, images, engine=engine, errors="collect", note=note, top_k=top_k
    )
    failed = 0
    for path, result in zip(images, results, strict=True):
        if isinstance(result, Exception):
            failed += 1
            sys.stdout.flush()
            print(f"error: {result}", file=sys.stderr, flush=True)
        elif top_k is not None:
            best = "\t".join(f"{tsv_field(name)}\t{prob:.4f}" for name, prob in result)
            print(f"{tsv_field(path)}\t{best}", flush=True)
        else:
            name, prob = result
            print(f"{tsv_field(path)}\t{tsv_field(name)}\t{prob:.4f}", flush=True)
    if failed:
        raise typer.Exit(2)


def tsv_field(value) -> str:
    """``value`` as one tab-separated field: a backslash, tab, newline or carriage return in
    it (a file or class name may hold them) is written as ``\\\\``, ``\\t``, ``\\n``, ``\\r``."""
    text = str(value)
    for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        text = text.replace(raw, escaped)
    return text


def show(
    run: Annotated[Path, typer.Argument(help="A run directory.")],
    image: Annotated[Path, typer.Argument(help="One image file.")],
    out: Annotated[
        Path | None, typer.Option(help="PNG to write. (default: RUN/show_IMAGE.png)")
    ] = None,
    engine: Annotated[Engine | None, typer.Option(help=RUN_ENGINE_HELP)] = None,
    cam: Annotated[
        bool,
        typer.Option(
            "--cam/--no-cam", help="Add the Grad-CAM overlay and the saliency map of the image."
        ),
    ] = False,
    layer: Annotated[
        str | None, typer.Option(help="The Conv2D layer of the Grad-CAM (default: the last).")
    ] = None,
    class_index: Annotated[
        int | None,
        typer.Option("--class", help="Class index of the Grad-CAM (default: the predicted)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing PNG.")] = False,
) -> None:
    """Draw one image's feature maps and first-layer filters (--cam: and its Grad-CAM)."""
    from cnnlab import interpret

    path = interpret.show(
        run,
        image,
        out,
        engine=engine,
        cam=cam,
        layer=layer,
        class_index=class_index,
        overwrite=force,
    )
    print(f"wrote {path}")

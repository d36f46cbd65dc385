"""The CLI's choices are the library's: one list of tasks, engines, models and schedules."""

from __future__ import annotations

import typing

from cnnlab import training
from cnnlab.cli import train as cli_train
from cnnlab.keras_models import MODELS
from cnnlab.tasks import TASKS


def test_cli_choices_equal_the_librarys():
    assert typing.get_args(cli_train.Task) == tuple(TASKS)
    assert typing.get_args(cli_train.Engine) == tuple(training.ENGINES)
    assert typing.get_args(cli_train.ModelName) == tuple(MODELS)
    assert typing.get_args(cli_train.Schedule) == tuple(training.SCHEDULES)
    assert typing.get_args(cli_train.Preprocess) == tuple(training.PREPROCESS)


def test_train_help_states_each_tasks_default_model_and_step():
    """The defaults said in ``cnnlab train --help`` are the tasks' own (spelled out there so
    that --help imports no NumPy; this catches a default changed in one place only)."""
    hints = typing.get_type_hints(cli_train.train, include_extras=True)

    def help_of(name: str) -> str:
        return " ".join(typing.get_args(hints[name])[1].help.split())

    for name, task in TASKS.items():
        assert f"{task.default_model} for {name}" in help_of("model")
        assert f"{task.default_preprocess} for {name}" in help_of("preprocess")

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

"""``cnnlab pretrained``: the pretrained models shipped inside cnnlab, with their licences,
sources and what they give (a thin command over :mod:`cnnlab.pretrained`)."""

from __future__ import annotations

from typing import Annotated

import typer

from cnnlab.errors import ModelFileError


def pretrained(
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Also check every file's SHA-256 (exit 2 if one fails)."),
    ] = False,
) -> None:
    """List the pretrained models shipped inside cnnlab: licence, source, input and output.

    Nothing is downloaded; the licences and the NOTICE are in the folder printed last."""
    from cnnlab import pretrained as shipped

    for model in shipped.MODELS.values():
        print(f"{model.name}  ({model.licence})")
        print(f"    {model.origin}; trained on {model.trained_on}")
        print(f"    takes {model.input}; gives {model.gives}")
        print(f"    file {model.file}, from {model.source}")
    print(f"licences and NOTICE: {shipped.FILES}")
    if verify:
        results = shipped.verify_all()
        bad = [message for message in results.values() if message != "ok"]
        print(f"checked {len(results)} files: {len(results) - len(bad)} ok")
        if bad:
            raise ModelFileError(bad[0])

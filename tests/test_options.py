"""One meaning per option name: the RunInference batch, the engine's step and the image CNN's
batch are three options of `docexit run`, each reaching its own part of the job."""

from __future__ import annotations

import argparse

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from docexit.pipeline.build import resolve_spec
from docexit.pipeline.cli import bench, study
from docexit.pipeline.options import DEFAULT_VISION_BATCH_SIZE, DocexitOptions

SIZES = ("--batch-size", "--engine-step-size", "--vision-batch-size")


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    DocexitOptions._add_argparse_args(parser)
    return parser


def _dest(parser: argparse.ArgumentParser, option: str) -> str:
    (action,) = [a for a in parser._actions if option in a.option_strings]
    return action.dest


def test_run_has_three_batch_options_with_distinct_destinations() -> None:
    parser = _run_parser()
    dests = [_dest(parser, option) for option in SIZES]
    assert dests == ["batch_size", "engine_step_size", "vision_batch_size"]
    args = parser.parse_args(["--batch-size", "7", "--engine-step-size", "3"])
    assert (args.batch_size, args.engine_step_size) == (7, 3)
    assert args.vision_batch_size == DEFAULT_VISION_BATCH_SIZE


def test_each_size_reaches_its_own_part_of_the_job() -> None:
    argv = ["--batch-size", "7", "--engine-step-size", "3", "--vision-batch-size", "5"]
    spec = resolve_spec(PipelineOptions(argv))
    assert spec.handler_kwargs["max_batch_size"] == 7  # RunInference's batch
    assert spec.handler_kwargs["engine_step_size"] == 3  # the engine's layer step
    assert spec.vision_batch_size == 5  # the image CNN's batch
    default = resolve_spec(PipelineOptions(["--batch-size", "2"]))
    assert default.vision_batch_size == DEFAULT_VISION_BATCH_SIZE  # no longer tied to it


@pytest.mark.parametrize("option", SIZES)
def test_a_size_below_one_is_refused_by_name(option: str) -> None:
    with pytest.raises(ValueError, match=f"{option} must be >= 1"):
        resolve_spec(PipelineOptions([option, "0"]))


@pytest.mark.parametrize("command", [["bench", "engine"], ["study"]])
def test_engine_timings_take_engine_step_sizes(command: list[str]) -> None:
    parser = argparse.ArgumentParser()
    module = bench if command[0] == "bench" else study
    module.add_arguments(parser)
    new = parser.parse_args([*command[1:], "--engine-step-sizes", "1,4"])
    old = parser.parse_args([*command[1:], "--batch-sizes", "1,4"])  # the older name
    assert new.engine_step_sizes == old.engine_step_sizes == "1,4"
    assert not hasattr(new, "batch_sizes")

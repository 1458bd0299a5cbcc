"""The table of run options (``udabench.options``) is the one source of the run, sweep and bench flags,
the sweep-file keys, the defaults, the run key's parts and the checks."""

from __future__ import annotations

import dataclasses
import re

import pytest

from udabench.cli import build_parser, main
from udabench.errors import UdabenchError
from udabench.options import OPTIONS, SWEEP
from udabench.runner import RunRequest, prepare
from udabench.sweep import FILE_KEYS, SweepConfig

COMMAND_ARGS = {"run": ["run", "--method", "dann", "--task", "mnist-usps"], "sweep": ["sweep"],
                "bench": ["bench", "--method", "dann", "--task", "mnist-usps"]}


def flag_actions(command: str) -> dict[str, object]:
    parser = build_parser()
    [commands] = [action for action in parser._actions if action.dest == "command"]
    return {string: action for action in commands.choices[command]._actions for string in action.option_strings}


@pytest.mark.parametrize("command", sorted(COMMAND_ARGS))
def test_each_flag_is_made_from_the_table_with_its_default(command):
    actions = flag_actions(command)
    parsed = vars(build_parser().parse_args(COMMAND_ARGS[command]))
    declared = [option for option in OPTIONS.values() if command in option.flags]
    assert declared
    for option in declared:
        assert option.flag in actions, option.name
        assert actions[option.flag].dest == option.name
        # A sweep's flags say only what they override; the file, then the table, says the rest.
        expected = (False if option.type is bool else None) if command == SWEEP else option.default
        assert parsed[option.name] == expected, option.name
        if option.argparse_choices and "choices" not in option.flags[command]:
            assert tuple(actions[option.flag].choices) == option.choices


def test_sweep_file_keys_and_the_defaults_come_from_the_table():
    request_fields = {field.name: field for field in dataclasses.fields(RunRequest)}
    sweep_defaults = SweepConfig()
    for name, option in OPTIONS.items():
        assert (name in FILE_KEYS) == option.in_file, name
        if option.in_file:
            assert FILE_KEYS[name] is option.type, name
            if name != "resolution":  # a file gives a size as text; the configuration holds it parsed
                assert getattr(sweep_defaults, name) == option.default, name
        if name in request_fields:
            assert request_fields[name].default == option.default, name
    assert RunRequest("m", "t").checkpoint_every == OPTIONS["checkpoint_minutes"].default * 60
    assert sweep_defaults.seeds == [OPTIONS["seed"].default]


def bad_value(option):
    if option.choices:
        return "bogus"
    if option.most is not None:
        return option.type(option.most + 1)
    return option.type(option.least - 1)


CHECKED = [option for option in OPTIONS.values() if option.choices or option.least is not None]


def test_every_check_of_the_table_is_tested():
    assert {option.name for option in CHECKED} == {
        "seed", "steps", "batch_size", "device", "threads", "eval_points", "checkpoint_minutes", "precision",
        "channels_last", "capture", "workers_per_gpu"}


def error_line(capsys, argv) -> str:
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("udabench: error: "), lines
    return lines[0]


@pytest.mark.parametrize("option", CHECKED, ids=lambda option: option.name)
def test_a_bad_value_is_the_tables_one_line_error_from_run_and_sweep_file_alike(option, tmp_path, capsys):
    value = bad_value(option)
    with pytest.raises(UdabenchError) as raised:
        option.check(value)
    message = f"udabench: error: {raised.value}"
    assert message.startswith(f"udabench: error: {option.flag} must ")
    store = tmp_path / "results.sqlite"
    if "run" in option.flags and not option.argparse_choices:  # the parser refuses a choice first, its own way
        assert error_line(capsys, [*COMMAND_ARGS["run"], option.flag, str(value), "--store", str(store)]) == message
    if option.in_file:
        file = tmp_path / "sweep.toml"
        text = f'"{value}"' if isinstance(value, str) else str(value)
        file.write_text(f'methods = ["dann"]\ntasks = ["mnist-usps"]\n{option.name} = {text}\n')
        assert error_line(capsys, ["sweep", str(file), "--store", str(store)]) == message
    if option.argparse_choices:  # a request made in Python reaches the same check
        from udabench.plugins import load_registry

        with pytest.raises(UdabenchError, match=f"^{re.escape(str(raised.value))}$"):
            prepare(load_registry(warn=False), RunRequest("dann", "mnist-usps", **{option.name: value}))
    assert not store.exists()


# Another valid value of each option a classification run's request holds (resolution is for
# segmentation tasks: test_segmentation checks that it enters the key).
OTHER_VALUES = {"seed": 1, "steps": 7, "batch_size": 4, "device": "cpu", "threads": 1, "backbone": "lenet",
                "data_root": "elsewhere", "snapshots": 0, "eval_points": 2, "precision": "bf16",
                "channels_last": "on", "capture": "off"}


def test_the_options_that_enter_the_run_key_are_those_the_table_says(tiny_digits):
    from udabench.plugins import load_registry

    request_fields = {field.name for field in dataclasses.fields(RunRequest)}
    assert set(OTHER_VALUES) == (set(OPTIONS) & request_fields) - {"resolution"}
    registry = load_registry(warn=False)
    data = {"mnist": str(tiny_digits["mnist"]), "usps": str(tiny_digits["usps"])}
    base = RunRequest("dann", "mnist-usps", data=data, progress=False)
    key = prepare(registry, base).key
    for name, value in OTHER_VALUES.items():
        other = prepare(registry, dataclasses.replace(base, **{name: value})).key
        assert (other != key) == OPTIONS[name].in_key, name

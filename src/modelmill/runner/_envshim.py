"""Runs one Python step inside its own environment (a subprocess started by the runner).

This file is executed by path with the step environment's interpreter, which has none of
modelmill's dependencies: it uses the standard library only, and gives the step function a
context with the part of :class:`~modelmill.runner.context.StepContext` that works across a
process boundary (params, input and output paths, metrics, output metadata, a logger). The
runner hands the request as a JSON file and reads back the metrics and metadata from the
result file; the step's outputs are files it wrote at the output paths, stored by the runner.

Usage: ``python _envshim.py REQUEST.json``.
"""

import importlib
import json
import logging
import sys
from pathlib import Path


class EnvironmentContext:
    """What a step running in its own environment sees (see the module docstring)."""

    def __init__(self, request):
        self.params = dict(request["params"])
        self.log = logging.getLogger("modelmill.step." + request["step"])
        self.metrics = {}
        self.metadata = {name: {} for name in request["outputs"]}
        self._inputs = request["inputs"]
        self._outputs = request["outputs"]
        self.step_name = request["step"]

    def input(self, name):
        if name not in self._inputs:
            raise KeyError(f"step '{self.step_name}' did not declare input '{name}'")
        if self._inputs[name] is None:
            raise FileNotFoundError(
                f"optional input '{name}' does not exist yet; check ctx.has_input() first"
            )
        return Path(self._inputs[name])

    def has_input(self, name):
        return self._inputs.get(name) is not None

    def input_keys(self):
        return list(self._inputs)

    def output(self, name):
        if name not in self._outputs:
            raise KeyError(f"step '{self.step_name}' did not declare output '{name}'")
        return Path(self._outputs[name])

    def log_metric(self, key, value):
        self.metrics[key] = float(value)

    def log_metrics(self, metrics):
        for key, value in metrics.items():
            self.log_metric(key, value)

    def set_metadata(self, output, **values):
        self.output(output)
        self.metadata[output].update(values)

    def set_alias(self, *args, **kwargs):
        raise NotImplementedError("set_alias is not available to a step running in its own environment")

    def log_artifact(self, *args, **kwargs):
        raise NotImplementedError("log_artifact is not available to a step running in its own environment")


def main(path):
    request = json.loads(Path(path).read_text(encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    sys.path.insert(0, request["root"])
    module_name, _, attr = request["function"].partition(":")
    func = getattr(importlib.import_module(module_name), attr)
    ctx = EnvironmentContext(request)
    func(ctx)
    result = {"metrics": ctx.metrics, "metadata": ctx.metadata}
    Path(request["result"]).write_text(json.dumps(result, default=str), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])

"""Run LiteRT (``.tflite``) models with ``ai-edge-litert``: in this process, or isolated in a child process.

numpy and ``ai_edge_litert`` only (no torch), so the export checks and the ``litert`` runtime
backend share it. LiteRT models have fixed shapes (batch 1 unless exported otherwise):
:class:`TFLiteModel` feeds any number of rows through them in chunks of the model's batch.
INT8 inputs and outputs (``--int8-io`` models) are quantised and dequantised here with the
tensors' own scale and zero point, so callers always pass and get float32.

``ai-edge-litert`` can abort the whole process on a malformed model. :func:`run_isolated`
runs models in a child process (``python -m flowfm_edge.runtimes.litert_interpreter``) and turns a
crash into :class:`LiteRTCrash` naming the model.

>>> m = TFLiteModel("bundle/litert/encoder.fp32.tflite", threads=2)   # doctest: +SKIP
>>> m.run({"x": x}).shape                                              # x (N, 3, 300) -> (N, r_dim)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

NEEDS = "pip install 'flowfm-edge[litert]' (installs litert-torch and ai-edge-litert)"
ISOLATED_TIMEOUT_S = 900


class LiteRTCrash(RuntimeError):
    """ai-edge-litert aborted or failed while loading or running a model in the child process."""


def import_interpreter():
    """``(Interpreter, OpResolverType)`` from ai-edge-litert; ImportError naming the extra when absent."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as exc:
        raise ImportError(f"running LiteRT models needs ai-edge-litert ({exc}); install it with: {NEEDS}") from None
    return Interpreter, OpResolverType


def _quantise(a: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(a / scale) + zero, info.min, info.max).astype(detail["dtype"])


def _dequantise(a: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    return ((a.astype(np.float32) - zero) * scale).astype(np.float32)


class TFLiteModel:
    """One LiteRT model: ``run({input: (N, ...)})`` -> first output (N, ...), float32.

    ``threads`` sets the interpreter's CPU threads; ``xnnpack=False`` runs the plain
    built-in kernels (the default applies XNNPACK, as LiteRT does on phones).
    """

    def __init__(self, path: str | Path, threads: int | None = None, xnnpack: bool = True):
        Interpreter, Resolver = import_interpreter()
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: LiteRT model file is missing; re-export the bundle")
        resolver = Resolver.AUTO if xnnpack else Resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        self.interpreter = Interpreter(model_path=str(self.path), num_threads=threads or 1,
                                       experimental_op_resolver_type=resolver)
        self.interpreter.allocate_tensors()
        runner = self.interpreter.get_signature_runner()
        self.inputs: dict[str, dict] = runner.get_input_details()  # signature name -> tensor detail
        self.output: dict = next(iter(runner.get_output_details().values()))
        self.batch = int(next(iter(self.inputs.values()))["shape"][0])

    @property
    def int8_io(self) -> bool:
        return any(d["dtype"] != np.float32 for d in [*self.inputs.values(), self.output])

    def invoke(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """One call with exactly the model's input shapes: feeds {input: (batch, ...)} -> (batch, ...)."""
        for name, detail in self.inputs.items():
            a = np.asarray(feeds[name], dtype=np.float32).reshape(detail["shape"])
            if detail["dtype"] != np.float32:
                a = _quantise(a, detail)
            self.interpreter.set_tensor(detail["index"], np.ascontiguousarray(a))
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self.output["index"])
        return out.astype(np.float32) if self.output["dtype"] == np.float32 else _dequantise(out, self.output)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Any number of rows: feeds {input: (N, ...)} -> (N, ...), in chunks of the model's batch."""
        missing = [n for n in self.inputs if n not in feeds]
        if missing:
            raise ValueError(f"{self.path.name}: missing inputs {', '.join(missing)}; it takes {', '.join(self.inputs)}")
        n = len(next(iter(feeds.values())))
        outs = []
        for i in range(0, n, self.batch):
            chunk = {k: np.asarray(feeds[k][i : i + self.batch], dtype=np.float32) for k in self.inputs}
            b = len(next(iter(chunk.values())))
            if b < self.batch:  # pad a short last chunk with copies of its last row; drop their outputs
                chunk = {k: np.concatenate([v, np.repeat(v[-1:], self.batch - b, axis=0)]) for k, v in chunk.items()}
            outs.append(self.invoke(chunk)[:b])
        return np.concatenate(outs)


def run_isolated(jobs: list[tuple[Path, dict[str, np.ndarray]]], threads: int | None = None,
                 timeout: float = ISOLATED_TIMEOUT_S) -> list[np.ndarray]:
    """Run each ``(model path, feeds)`` in one child process; returns each first output (N, ...).

    Raises :class:`LiteRTCrash` naming the model that was loading or running when the child
    died (a malformed model can abort ai-edge-litert) or failed.
    """
    with tempfile.TemporaryDirectory(prefix="flowfm-litert-") as tmp:
        tmp = Path(tmp)
        request = {"threads": threads, "jobs": []}
        for i, (path, feeds) in enumerate(jobs):
            np.savez(tmp / f"in{i}.npz", **{k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()})
            request["jobs"].append({"model": str(path), "inputs": str(tmp / f"in{i}.npz"), "output": str(tmp / f"out{i}.npy")})
        (tmp / "request.json").write_text(json.dumps(request))
        try:
            res = subprocess.run([sys.executable, "-m", "flowfm_edge.runtimes.litert_interpreter", str(tmp / "request.json")],
                                 capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise LiteRTCrash(f"LiteRT check did not finish within {timeout:.0f} s ({len(jobs)} models, first "
                              f"{jobs[0][0]}); the machine may be overloaded, retry with fewer models") from None
        done = [j for j in request["jobs"] if Path(j["output"]).is_file()]
        if res.returncode != 0:
            failed = request["jobs"][len(done)]["model"] if len(done) < len(jobs) else "(after the last model)"
            how = (f"was killed by {signal.Signals(-res.returncode).name}" if res.returncode < 0
                   else f"exited with status {res.returncode}")
            tail = " | ".join(res.stderr.strip().splitlines()[-3:])
            raise LiteRTCrash(f"ai-edge-litert {how} while loading or running {failed}: the model is malformed or "
                              f"uses an op this LiteRT build lacks; re-export it, or report it with the bundle "
                              f"manifest. Last messages: {tail or '(none)'}")
        return [np.load(j["output"]) for j in request["jobs"]]


def _worker(request_path: str) -> None:
    request = json.loads(Path(request_path).read_text())
    for job in request["jobs"]:
        with np.load(job["inputs"]) as data:
            feeds = {k: data[k] for k in data.files}
        np.save(job["output"], TFLiteModel(job["model"], threads=request["threads"]).run(feeds))


if __name__ == "__main__":
    _worker(sys.argv[1])

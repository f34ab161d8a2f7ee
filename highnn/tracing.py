"""Trace a step once, replay a lowered program: how ``fit`` avoids rebuilding the graph.

Running a function under a :class:`Tape` records every primitive it applies
(forward pass, highnn's backward pass and the optimizer's updates alike) as
slots and steps. Variables read become inputs, variables assigned become
outputs, and everything computed from constants alone is folded. The result is
a pure function of arrays, generated as straight-line Python (dead steps
dropped, chains fused where the backend offers a fused function, dead
intermediates overwritten where it offers an in-place one, each
intermediate released after its last use) and handed to the
backend's ``compile`` hook: NumPy and PyTorch run it as is, JAX jit-compiles
it with the variables' buffers donated.

Tracing changes no state: every variable the function assigned gets its value
back, and the first call then runs the compiled program like every later one
(so a step that fails while traced leaves the model untouched, and a resumed
run rounds exactly as an uninterrupted one). Each traced function keeps at
most :data:`MAX_PROGRAMS` programs, the least recently used evicted first.

The tape is per context (see ``graph.recording``), so threads trace at once
without seeing each other's operations, and a traced function's program cache
is filled by one thread at a time.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from contextlib import suppress
from functools import partial
from typing import Any

import numpy as np

from highnn.config import settings
from highnn.distribution.api import distribution, replicated
from highnn.graph import Primitive, Tensor, is_tracing, recording
from highnn.variables import Variable

Step = tuple[str, tuple[int, ...], int, dict[str, Any]]

#: programs (input signatures) one traced function keeps; older ones are released
MAX_PROGRAMS = 32


class Tape:
    """Records primitive applications as steps over numbered slots."""

    def __init__(self) -> None:
        backend = settings.backend
        #: in a job of several processes, what the recorded operations compute on in place of the values of the
        #: inputs and variables (see :meth:`value`); None in one process
        self.traceable = backend.traceable if backend.process_count() > 1 else None
        self.slot_of: dict[int, int] = {}
        self.alive: list[Tensor] = []  # keeps traced tensors alive, so their ids stay unique
        self.constants: dict[int, Any] = {}
        self.steps: list[Step] = []
        self.inputs: list[int] = []
        self.variable_inputs: list[tuple[Variable, int]] = []
        self.assigned: dict[int, Variable] = {}
        self.originals: dict[int, tuple[Variable, Any]] = {}  # each assigned variable's value before the trace
        self.computed: dict[tuple[str, tuple[int, ...], str], int] = {}  # for common-subexpression reuse

    def value(self, tensor: Tensor) -> Any:
        """The value an operation recorded on this tape computes on. Recording runs every operation eagerly,
        and only shapes and dtypes reach the program; in a job of several processes an input's or a variable's
        value is the backend's ``traceable`` stand-in (JAX: an array spread over the processes would make each
        operation a computation every process must join, in the same order), while constants, which the tape
        folds, keep theirs."""
        slot = self.slot_of.get(id(tensor))
        traced = slot not in self.constants if slot is not None else isinstance(tensor, Variable)
        return self.traceable(tensor.value) if traced and self.traceable is not None else tensor.value

    def new_slot(self, tensor: Tensor) -> int:
        slot = len(self.alive)
        self.alive.append(tensor)
        self.slot_of[id(tensor)] = slot
        return slot

    def add_input(self, tensor: Tensor) -> None:
        self.inputs.append(self.new_slot(tensor))

    def slot(self, tensor: Tensor) -> int:
        """The slot holding ``tensor``: a step's output, an input, a variable's value or a constant."""
        slot = self.slot_of.get(id(tensor))
        if slot is None:
            slot = self.new_slot(tensor)
            if isinstance(tensor, Variable):
                self.variable_inputs.append((tensor, slot))
            else:
                self.constants[slot] = tensor.value
        return slot

    def record(self, primitive: Primitive, inputs: tuple[Tensor, ...], attrs: dict[str, Any], out: Tensor) -> None:
        slots = tuple(self.slot(t) for t in inputs)
        key = (primitive.name, slots, repr(attrs))
        if key in self.computed:  # the same operation on the same slots: reuse its result
            self.alive.append(out)
            self.slot_of[id(out)] = self.computed[key]
            return
        out_slot = self.new_slot(out)
        self.computed[key] = out_slot
        if all(s in self.constants for s in slots):
            self.constants[out_slot] = out.value  # folded: computed once, at trace time
        else:
            self.steps.append((primitive.name, slots, out_slot, attrs))

    def alias(self, tensor: Tensor, source: Tensor) -> None:
        """``tensor`` holds the same value as ``source`` (a detached copy)."""
        self.alive.append(tensor)
        self.slot_of[id(tensor)] = self.slot(source)

    def assign(self, variable: Variable, value: Tensor) -> None:
        """Record ``variable = value``; called before the variable's value changes."""
        self.originals.setdefault(id(variable), (variable, variable.value))
        self.slot_of[id(variable)] = self.slot(value)
        self.assigned[id(variable)] = variable

    def restore(self) -> None:
        """Give every assigned variable back the value it had before the trace."""
        for variable, value in self.originals.values():
            variable.value = value


class Program:
    """The pure function a tape describes, as generated Python source over backend functions."""

    def __init__(self, tape: Tape, outputs: Sequence[Tensor], defer_counters: bool = False) -> None:
        output_slots = [tape.slot(t) for t in outputs]
        self.updated = list(tape.assigned.values())
        steps, needed = _needed(tape.steps, output_slots + [tape.slot_of[id(v)] for v in self.updated])
        #: variables the program leaves to the caller to advance, each by a constant per run (see TracedFunction)
        self.counters = _counters(tape, steps, set(output_slots)) if defer_counters else []
        if self.counters:
            counted = {id(v) for v, _ in self.counters}
            self.updated = [v for v in self.updated if id(v) not in counted]
            steps, needed = _needed(tape.steps, output_slots + [tape.slot_of[id(v)] for v in self.updated])
        result_slots = output_slots + [tape.slot_of[id(v)] for v in self.updated]
        self.read = [v for v, slot in tape.variable_inputs if slot in needed]
        argument_slots = tape.inputs + [slot for v, slot in tape.variable_inputs if slot in needed]
        updated_ids = {id(v) for v in self.updated}
        self.donate_argnums = tuple(len(tape.inputs) + i for i, v in enumerate(self.read) if id(v) in updated_ids)
        steps = fuse(steps, set(result_slots), tape.constants, {slot: tape.alive[slot].shape for slot in needed})
        # each program a name of its own: profilers (cProfile, pstats) key functions by file, line and name
        name = f"program_{next(_PROGRAM_NUMBERS)}"
        self.source, self.namespace = _generate(name, steps, argument_slots, result_slots, tape.constants)
        exec(compile(self.source, "<highnn program>", "exec"), self.namespace)
        self.function: Callable[..., tuple[Any, ...]] = self.namespace[name]
        self.n_steps = len(steps)
        self.n_outputs = len(outputs)


_PROGRAM_NUMBERS = itertools.count(1)


def _needed(steps: list[Step], results: list[int]) -> tuple[list[Step], set[int]]:
    """The steps ``results`` depend on, in order, and every slot they read or write."""
    needed = set(results)
    kept: list[Step] = []
    for step in reversed(steps):
        if step[2] in needed:
            kept.append(step)
            needed.update(step[1])
    kept.reverse()
    return kept, needed


def _counters(tape: Tape, steps: list[Step], outputs: set[int]) -> list[tuple[Variable, int]]:
    """The assigned variables ``steps`` only advance by a whole-number constant (``v + c``, nothing else reading
    ``v`` or its new value): an optimizer's iterations, a metric's count of unweighted samples."""
    readers = Counter(slot for _, ins, _, _ in steps for slot in ins)
    producers = {out: (name, ins) for name, ins, out, _ in steps}
    input_slots = {id(v): slot for v, slot in tape.variable_inputs}
    counters = []
    for variable in tape.assigned.values():
        new = tape.slot_of[id(variable)]
        old = input_slots.get(id(variable))
        name, ins = producers.get(new, ("", ()))
        if name != "add" or old not in ins or readers[old] != 1 or readers[new] or new in outputs:
            continue
        (step,) = [slot for slot in ins if slot != old]
        increment = settings.backend.to_numpy(tape.constants[step]) if step in tape.constants else None
        if increment is not None and increment.shape == () and float(increment).is_integer():
            counters.append((variable, int(increment)))
    return counters


def _generate(
    name: str, steps: list[Step], arguments: list[int], results: list[int], constants: dict[int, Any]
) -> tuple[str, dict[str, Any]]:
    backend = settings.backend
    namespace: dict[str, Any] = {}
    last_use: dict[int, int] = {}
    for i, (_, ins, _, _) in enumerate(steps):
        for slot in ins:
            last_use[slot] = i
    keep = set(results) | set(constants)
    lines = [f"def {name}({', '.join(f's{a}' for a in arguments)}):"]
    for i, (name, ins, out, attrs) in enumerate(steps):
        function = getattr(backend, name)
        namespace[f"{name}_{i}"] = partial(function, **attrs) if attrs else function
        lines.append(f"    s{out} = {name}_{i}({', '.join(_ref(s, constants) for s in ins)})")
        dead = sorted(s for s in set(ins) if last_use[s] == i and s not in keep)
        if dead:
            lines.append(f"    del {', '.join(f's{s}' for s in dead)}")
    lines.append(f"    return ({''.join(_ref(s, constants) + ', ' for s in results)})")
    namespace.update({f"c{slot}": value for slot, value in constants.items()})
    return "\n".join(lines) + "\n", namespace


# ------------------------------------------------------------------ fusion
# Chains the backends run faster as one call, rewritten in the plan when the backend defines the fused function
# (``linear``, ``relu``, ``relu_grad``, ``sub_scaled``, ``conv_bias``); JAX defines none, since XLA fuses them itself.
#   matmul(x, w) -> add(., b)              =>  linear(x, w, b)       x, w matrices, b a vector
#   greater(x, 0) -> where(., x, 0)        =>  relu(x)               the mask's other uses, where(., g, 0),
#                                              relu_grad(g, relu(x)) read the output instead of a mask
#   mul(g, lr) -> sub(w, .)                =>  sub_scaled(w, g, lr)  lr a scalar: one pass, no temporary
#   conv_general(x, k) -> add(., b)        =>  conv_bias(x, k, b)    b a vector, one per filter (the last axis)
# Each rewrite needs the intermediate it removes to have no other use (and not to be a result).
# Then a step whose backend function has an ``_in_place`` twin (writing into its first operand) runs as that twin
# where the operand is an intermediate this step reads last (or the reshape of one nothing else reads), no view
# of it exists, and the result has its shape.


def fuse(steps: list[Step], results: set[int], constants: dict[int, Any], shapes: dict[int, Any]) -> list[Step]:
    """``steps`` with the chains above rewritten to the active backend's fused functions."""
    backend = settings.backend
    users: dict[int, list[int]] = {}
    for i, (_, ins, _, _) in enumerate(steps):
        for slot in set(ins):
            users.setdefault(slot, []).append(i)
    rewritten: dict[int, Step | None] = {}  # step index -> its replacement (None: dropped)

    def is_zero(slot: int) -> bool:
        return slot in constants and shapes[slot] == () and not backend.to_numpy(constants[slot]).any()

    for i, (name, ins, out, attrs) in enumerate(steps):
        readers = users.get(out, [])
        if i in rewritten or out in results or not readers or not hasattr(backend, _FUSED_BY[name]):
            continue
        first_name, first_ins, first_out, _ = steps[readers[0]]
        bias = [s for s in first_ins if s != out]
        adds_bias = len(readers) == 1 and first_name == "add" and len(bias) == 1 and len(shapes[bias[0]]) == 1
        if name == "matmul":
            if adds_bias and len(shapes[out]) == len(shapes[ins[1]]) == 2:
                rewritten[i], rewritten[readers[0]] = None, ("linear", (*ins, bias[0]), first_out, {})
        elif name == "conv_general":
            if adds_bias and shapes[bias[0]] == shapes[out][-1:]:
                rewritten[i], rewritten[readers[0]] = None, ("conv_bias", (*ins, bias[0]), first_out, attrs)
        elif name == "greater" and first_name == "where" and first_ins[1] == ins[0] and is_zero(ins[1]):
            wheres = [steps[j] for j in readers]
            if all(
                w[0] == "where" and w[1][0] == out != w[1][1] and is_zero(w[1][2]) and shapes[w[1][1]] == shapes[out]
                for w in wheres
            ):
                rewritten[i], rewritten[readers[0]] = None, ("relu", (ins[0],), first_out, {})
                for j, (_, (_, g, _), grad_out, _) in zip(readers[1:], wheres[1:]):
                    rewritten[j] = ("relu_grad", (g, first_out), grad_out, {})
        elif (
            name == "mul"
            and len(readers) == 1
            and first_name == "sub"
            and first_ins[1] == out != first_ins[0]
            and shapes[ins[1]] == ()
            and shapes[first_out] == shapes[ins[0]] == shapes[first_ins[0]]
        ):
            rewritten[i], rewritten[readers[0]] = None, ("sub_scaled", (first_ins[0], *ins), first_out, {})
    fused = [rewritten.get(i, step) for i, step in enumerate(steps)]
    return _in_place([step for step in fused if step is not None], results, shapes)


def _in_place(steps: list[Step], results: set[int], shapes: dict[int, Any]) -> list[Step]:
    """``steps`` with each ``name`` whose first operand's buffer is free to overwrite renamed ``name_in_place``."""
    backend = settings.backend
    producer = {out: (name, ins) for name, ins, out, _ in steps}
    readers: dict[int, list[str]] = {}
    last_use: dict[int, int] = {}
    for i, (name, ins, _, _) in enumerate(steps):
        for slot in ins:
            readers.setdefault(slot, []).append(name)
            last_use[slot] = i

    def owns_buffer(slot: int) -> bool:
        """Whether ``slot`` is an intermediate (not an argument or a constant) in a buffer of its own: a fresh
        result, or the reshape of one that nothing else reads."""
        name, ins = producer.get(slot, ("", ()))
        if name == "reshape":
            return readers[ins[0]] == ["reshape"] and ins[0] not in results and owns_buffer(ins[0])
        return name in _FRESH

    out = []
    for i, (name, ins, result, attrs) in enumerate(steps):
        first = ins[0] if ins else -1
        if (
            hasattr(backend, f"{name}_in_place")
            and owns_buffer(first)
            and all(reader in _FRESH for reader in readers[first])  # so no view of it exists
            and last_use[first] == i
            and first not in results
            and ins.count(first) == 1
            and shapes[first] == shapes[result]
        ):
            name = f"{name}_in_place"
        out.append((name, ins, result, attrs))
    return out


#: the functions whose result is a new buffer on every backend, never a view of an operand
_FRESH = frozenset({"matmul", "conv_general", "add", "sub", "mul", "linear", "conv_bias", "relu", "relu_grad"})

#: the fused function each chain's first primitive may start
_FUSED_BY = defaultdict(
    lambda: "", {"matmul": "linear", "greater": "relu", "mul": "sub_scaled", "conv_general": "conv_bias"}
)


def _ref(slot: int, constants: dict[int, Any]) -> str:
    return f"c{slot}" if slot in constants else f"s{slot}"


class TracedFunction:
    """``fn(*tensors) -> tuple of tensors`` (free to read and assign variables), traced once per signature.

    The first call for a signature (shapes, dtypes, backend) traces ``fn``
    without changing any state, compiles the program, and runs it; every call
    runs the compiled program and writes the new values into the variables
    ``fn`` assigned. At most :data:`MAX_PROGRAMS` programs are kept (least
    recently used evicted). Threads may call it at once: one traces a new
    signature while the others wait for its program.

    With ``defer_counters``, a variable the program only advances by a
    whole-number constant (an optimizer's ``iterations``, a metric's ``count``)
    is left out of it: each run is counted, and :meth:`count` adds them all at
    once. The caller calls it before anything reads those variables (``fit``,
    at the end of a pass without batch hooks); a small step so takes two
    arguments and two results fewer.
    """

    def __init__(
        self, fn: Callable[..., Sequence[Tensor]], jit: bool | None = None, defer_counters: bool = False
    ) -> None:
        self.fn = fn
        self.jit = jit
        self.defer_counters = defer_counters
        self.programs: OrderedDict[tuple[Any, ...], tuple[Program, Callable[..., Any]]] = OrderedDict()
        self._tracing = threading.Lock()
        self._runs_to_count: Counter[Program] = Counter()
        self._advances: dict[tuple[int, ...], TracedFunction] = {}  # count()'s program, by the counters it adds to

    def __call__(self, *arrays: Any) -> list[Any]:
        key = (settings.backend, settings.floatx, *[(a.shape, a.dtype) for a in arrays], distribution())
        entry = self.programs.get(key)
        if entry is None:
            entry = self._compile(key, arrays)
        elif len(self.programs) > 1:  # the least recently used goes first: one program has no order to keep
            with suppress(KeyError):  # another thread may have just evicted it
                self.programs.move_to_end(key)
        return self._replay(entry, arrays)

    def _compile(self, key: tuple[Any, ...], arrays: tuple[Any, ...]) -> tuple[Program, Callable[..., Any]]:
        """Trace and compile the program of a new signature (or take the one another thread just made)."""
        _check_not_tracing()  # before the lock: a trace nested in this context fails instead of waiting
        with self._tracing:
            entry = self.programs.get(key)
            if entry is None:
                program = self.trace(*arrays)
                compiled = settings.backend.compile(
                    program.function, program.donate_argnums, jit=self.jit, **_layouts(program, arrays)
                )
                entry = (program, compiled)
                self.programs[key] = entry
                while len(self.programs) > MAX_PROGRAMS:
                    self.programs.popitem(last=False)
            return entry

    def _replay(self, entry: tuple[Program, Callable[..., Any]], arrays: tuple[Any, ...]) -> list[Any]:
        """Run a compiled program and write the values it assigned into the variables."""
        program, compiled = entry
        results = compiled(*arrays, *[v.value for v in program.read])
        n_outputs = len(results) - len(program.updated)
        for variable, value in zip(program.updated, results[n_outputs:]):
            variable.value = value
        if program.counters:
            self._runs_to_count[program] += 1
        return list(results[:n_outputs])

    def count(self) -> None:
        """Advance the counters the programs left out (``defer_counters``) by every run since the last count, in
        one traced call."""
        variables: dict[int, Variable] = {}
        totals: Counter[int] = Counter()
        for program, runs in self._runs_to_count.items():
            for variable, increment in program.counters:
                variables[id(variable)] = variable
                totals[id(variable)] += increment * runs
        self._runs_to_count.clear()
        if totals:
            key = tuple(totals)
            advance = self._advances.get(key) or self._advances.setdefault(key, _advance(list(variables.values())))
            advance(settings.backend.batch(np.array(list(totals.values())), "int64"))

    def trace(self, *arrays: Any) -> Program:
        """Record ``fn`` on ``arrays`` as a program; the variables it assigned keep their values."""
        _check_not_tracing()
        tape = Tape()
        inputs = [Tensor(a) for a in arrays]
        for tensor in inputs:
            tape.add_input(tensor)
        try:
            with recording(tape):
                outputs = list(self.fn(*inputs))
            return Program(tape, outputs, self.defer_counters)
        finally:
            tape.restore()


def _advance(variables: list[Variable]) -> TracedFunction:
    """``fn(increments)``: adds ``increments[i]`` (an integer vector) to ``variables[i]``."""

    def add(increments: Tensor) -> list[Tensor]:
        for i, variable in enumerate(variables):
            variable.assign_add(increments[i].astype(variable.dtype))
        return []

    return TracedFunction(add)


def _layouts(program: Program, arrays: tuple[Any, ...]) -> dict[str, Any]:
    """Under a distribution, the layouts of a program's arguments (batches, then variables) and results (outputs
    whole on every device, then variables); nothing without one."""
    active = distribution()
    if active is None:
        return {}
    return {
        "in_layouts": [active.get_data_layout(a.shape) for a in arrays]
        + [active.get_variable_layout(v) for v in program.read],
        "out_layouts": [replicated(0, active.device_mesh)] * program.n_outputs
        + [active.get_variable_layout(v) for v in program.updated],
    }


def _check_not_tracing() -> None:
    if is_tracing():
        raise RuntimeError("A traced function cannot be called while another one is being traced.")

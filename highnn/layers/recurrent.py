"""Recurrent layers (SimpleRNN, LSTM, GRU) and wrappers that apply layers over time (Bidirectional, TimeDistributed).

A recurrent layer projects every time step's input at once (one large
product), then runs its cell over time with the ``scan`` primitive (where the
backend's ``project_inputs_in_scan`` says so, JAX on a CPU, each step
multiplies its own input instead, as Keras's cells do): the cell
is traced once into a small program, so a sequence of 500 steps traces and
compiles as fast as one of 5 (see ``highnn.scan``). The state is one tensor,
``(batch, units)``, or for LSTM ``[h, c]`` joined along the last axis.
Masked steps (from ``Embedding(mask_zero=True)``) carry the state through.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from highnn import activations, constraints, initializers, regularizers
from highnn.checks import check_bool, check_choice, check_number, fail, is_integer
from highnn.config import settings
from highnn.graph import Tensor, to_tensor
from highnn.layers.layer import Layer
from highnn.layers.layer_utils import InputSpec, Shape, deserialize_weight_arguments, serialize_weight_arguments
from highnn.layers.regularization import RandomLayer
from highnn.nest import flatten
from highnn.ops.primitives import cast, random_uniform, transpose, unindex, where
from highnn.registry import Registry
from highnn.scan import ScanBody, scan
from highnn.variables import Variable


def join(parts: Sequence[Tensor]) -> Tensor:
    """Tensors of one shape but the last axis, joined along it (as ``concatenate(parts, axis=-1)``)."""
    if len(parts) == 1:
        return parts[0]
    shape = parts[0].shape[:-1] + (sum(p.shape[-1] for p in parts),)
    start, pieces = 0, []
    for part in parts:
        pieces.append(unindex(part, shape=shape, index=(Ellipsis, slice(start, start + part.shape[-1]))))
        start += part.shape[-1]
    total = pieces[0]
    for piece in pieces[1:]:
        total = total + piece
    return total


def split(x: Tensor, count: int) -> list[Tensor]:
    """``x`` cut into ``count`` equal parts along its last axis."""
    return split_sizes(x, [x.shape[-1] // count] * count)


def split_sizes(x: Tensor, sizes: list[int]) -> list[Tensor]:
    """``x`` cut along its last axis into parts of ``sizes`` (``[x]`` itself for one part)."""
    bounds = np.cumsum([0, *sizes]).tolist()
    return [x[..., start:stop] for start, stop in itertools.pairwise(bounds)] if len(sizes) > 1 else [x]


class Recurrence(Layer):
    """What every recurrence (SimpleRNN, LSTM, GRU and RNN) shares: Keras's arguments about the sequence, the
    ``initial_state`` call argument, the time-major inputs a scan runs over, and the outputs read off its carries.

    A subclass defines :attr:`state_sizes` and :attr:`output_size`, and its ``call`` scans a carry that starts
    with the step's output (for the built-in layers, the first state is the output).
    """

    def __init__(
        self,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        flags = {
            name: check_bool(owner, name, value)
            for name, value in (("return_sequences", return_sequences), ("return_state", return_state),
                                ("go_backwards", go_backwards), ("stateful", stateful), ("unroll", unroll),
                                ("zero_output_for_mask", zero_output_for_mask))
        }  # fmt: skip
        super().__init__(**kwargs)
        self.return_sequences = flags["return_sequences"]
        self.return_state = flags["return_state"]
        self.go_backwards = flags["go_backwards"]
        self.stateful = flags["stateful"]
        self.unroll = flags["unroll"]  # a hint for Keras's compilers; the scan needs none
        self.zero_output_for_mask = flags["zero_output_for_mask"]
        self.supports_masking = True
        self.input_spec: InputSpec | None = None
        #: with ``stateful``, the variables that carry the last states from one batch to the next (made by build)
        self.states: list[Variable] | None = None

    @property
    def state_sizes(self) -> list[int]:
        """The size of every state, in order."""
        raise NotImplementedError

    @property
    def output_size(self) -> int:
        """The size of each step's output."""
        raise NotImplementedError

    @property
    def state_shapes(self) -> list[tuple[int, ...]]:
        """Each state's shape for one example: ``(size,)``, vectors, unless a subclass's states have more axes."""
        return [(n,) for n in self.state_sizes]

    def step_shapes(self, input_shape: Shape) -> tuple[tuple[int | None, ...], list[tuple[int | None, ...]]]:
        """The shapes of one example's step output and of each of its states, for inputs of ``input_shape``."""
        return (self.output_size,), list(self.state_shapes)

    def check_input(self, x: Tensor) -> None:
        if self.input_spec is not None:
            self.input_spec.check(self.name, x.shape)

    def build_states(self, input_shape: Shape) -> None:
        """With ``stateful``, make the variables that carry the states between batches (zeros at first), for the
        batch size the layer is built for, which must be known (Keras's rule)."""
        if not self.stateful:
            return
        batch = input_shape[0]
        if batch is None:
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: with `stateful=True` the batch size must be known, as in Keras: "
                f"give it to the input (`hn.Input(shape, batch_size=...)`), received input shape {tuple(input_shape)}."
            )
        self.states = [
            self.add_state_variable(state.numpy(), f"rnn_state_{i}")
            for i, state in enumerate(self.default_states(int(batch), settings.floatx))
        ]

    def reset_state(self) -> None:
        """Set a stateful layer's states back to zeros (Keras's ``reset_state``; nothing to do otherwise)."""
        for state in self.states or []:
            state.assign(np.zeros(state.shape))

    def reset_states(self) -> None:
        """Keras's other name for :meth:`reset_state`."""
        self.reset_state()

    def default_states(self, batch: int, dtype: str) -> list[Tensor]:
        """The states a sequence starts from without ``initial_state``: zeros."""
        return [to_tensor(np.zeros((batch, *shape)), dtype) for shape in self.state_shapes]

    def initial_states(self, batch: int, dtype: str, initial_state: Any = None) -> list[Tensor]:
        """The states the scan starts from: the call's ``initial_state`` (a list of ``(batch, size)`` states,
        checked) where it has one, else a stateful layer's carried states, else :meth:`default_states`."""
        if initial_state is not None:
            states = [to_tensor(s, dtype) for s in flatten(initial_state)]
            if len(states) != len(self.state_shapes):
                fail(type(self).__name__, "initial_state", f"a list of {len(self.state_shapes)} state tensor(s)",
                     initial_state)  # fmt: skip
        elif self.states is not None:
            if batch != self.states[0].shape[0]:
                raise ValueError(
                    f"{type(self).__name__} {self.name!r}: a stateful layer runs on batches of "
                    f"{self.states[0].shape[0]}, the size it was built for, received a batch of {batch}."
                )
            states = list(self.states)
        else:
            states = self.default_states(batch, dtype)
        states = [state if state.dtype == dtype else cast(state, dtype) for state in states]
        for state, shape in zip(states, self.state_shapes):
            if state.shape != (batch, *shape):
                fail(type(self).__name__, "initial_state", f"states of shape {(batch, *shape)}", state.shape)
        return states

    def time_major(self, inputs: Tensor, mask: Tensor | None) -> list[Tensor]:
        """What the scan runs over: the inputs ``(time, batch, features...)`` and the mask ``(time, batch, 1...)``,
        in the order the steps are processed (reversed with ``go_backwards``)."""
        scanned = [_time_major(inputs)]
        if mask is not None:
            scanned.append(_time_major(cast(mask, inputs.dtype)).reshape(*mask.shape[::-1], *[1] * (inputs.ndim - 2)))
        return [x[::-1] for x in scanned] if self.go_backwards else scanned

    def outputs(self, carries: Tensor, scanned: list[Tensor], states: list[Tensor]) -> Any:
        """The layer's result from the scanned carries (each starting with the step's output) and the last states:
        the sequence or the last output, zero at masked steps with ``zero_output_for_mask``, then the states."""
        width = self.output_size
        zero_masked = len(scanned) > 1 and self.zero_output_for_mask  # as Keras: a masked step outputs zeros
        if self.return_sequences:
            sequence = carries[..., :width]
            output = _time_major(sequence * scanned[1] if zero_masked else sequence)  # back to batch-major
        else:  # the last step processed (the first one with go_backwards), zero where it is masked
            last = carries[-1][..., :width]
            output = last * scanned[1][-1] if zero_masked else last
        for variable, state in zip(self.states or [], states):  # a stateful layer carries them to the next batch
            variable.assign(state)
        return [output, *self.group_states(states)] if self.return_state else output

    def group_states(self, states: list[Any]) -> list[Any]:
        """The states (or their shapes or masks) as ``return_state`` lists them after the output: in order."""
        return states

    def compute_mask(self, inputs: Tensor, previous_mask: Tensor | None = None) -> Any:
        """The input mask for sequence outputs, none for a single output (as Keras)."""
        mask = previous_mask if self.return_sequences else None
        return [mask, *self.group_states([None] * len(self.state_shapes))] if self.return_state else mask

    def compute_output_shape(self, input_shape: Shape) -> Any:
        batch, time = input_shape[0], input_shape[1]
        step, state_shapes = self.step_shapes(input_shape)
        output = (batch, time, *step) if self.return_sequences else (batch, *step)
        states = self.group_states([(batch, *shape) for shape in state_shapes])
        return [output, *states] if self.return_state else output

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }


class Recurrent(Recurrence, RandomLayer):
    """What SimpleRNN, LSTM and GRU share: weights, dropout, masking, the scan over time and the outputs.

    A subclass sets ``GATES`` (blocks of ``units`` columns in the kernels) and
    ``STATES`` (state tensors), and defines :meth:`cell`.
    """

    GATES: ClassVar[int] = 1
    STATES: ClassVar[int] = 1
    WEIGHT_ARGUMENTS = ("kernel_initializer", "recurrent_initializer", "bias_initializer",
                        "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                        "kernel_constraint", "recurrent_constraint", "bias_constraint")  # fmt: skip

    def __init__(
        self,
        units: int,
        activation: str | activations.Activation | None = "tanh",
        use_bias: bool = True,
        kernel_initializer: str | initializers.Initializer = "glorot_uniform",
        recurrent_initializer: str | initializers.Initializer = "orthogonal",
        bias_initializer: str | initializers.Initializer = "zeros",
        kernel_regularizer: str | regularizers.Regularizer | None = None,
        recurrent_regularizer: str | regularizers.Regularizer | None = None,
        bias_regularizer: str | regularizers.Regularizer | None = None,
        kernel_constraint: constraints.ConstraintLike = None,
        recurrent_constraint: constraints.ConstraintLike = None,
        bias_constraint: constraints.ConstraintLike = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        """``kwargs``: the sequence arguments of :class:`Recurrence` (``return_sequences`` ...) and the layer's."""
        owner = type(self).__name__
        if not is_integer(units) or units <= 0:
            fail(owner, "units", "a positive integer", units)
        self.dropout = check_number(owner, "dropout", dropout, 0.0, 1.0, high_open=True)
        self.recurrent_dropout = check_number(owner, "recurrent_dropout", recurrent_dropout, 0.0, 1.0, high_open=True)
        use_bias = check_bool(owner, "use_bias", use_bias)
        super().__init__(seed=seed, **kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.use_bias = use_bias
        self._bodies: dict[tuple[bool, bool, int], ScanBody] = {}

    @property
    def state_sizes(self) -> list[int]:
        return [self.units] * self.STATES

    @property
    def output_size(self) -> int:
        return self.units

    # ------------------------------------------------------------- weights
    @property
    def window(self) -> tuple[int, ...]:
        """The kernels' spatial window: none for these recurrences, ``kernel_size`` for the convolutional ones."""
        return ()

    def input_features(self, input_shape: Shape) -> int:
        """The features of each step, from ``input_shape`` (checked); sets the spec later inputs must meet."""
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} needs inputs of shape (batch, timesteps, features), "
                f"received {tuple(input_shape)}."
            )
        features = int(input_shape[-1])
        self.input_spec = InputSpec(ndim=3, axes={-1: features})
        return features

    def build(self, input_shape: Shape) -> None:
        features = self.input_features(input_shape)
        super().build(input_shape)
        width = self.GATES * self.units
        self.kernel = self.add_weight(
            (*self.window, features, width),
            self.kernel_initializer,
            name="kernel",
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            (*self.window, self.units, width),
            self.recurrent_initializer,
            name="recurrent_kernel",
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = (
            self.add_weight(
                self.bias_shape(),
                self.bias_initial_value(),
                name="bias",
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
            if self.use_bias
            else None
        )
        self.build_states(input_shape)

    def bias_shape(self) -> tuple[int, ...]:
        return (self.GATES * self.units,)

    def bias_initial_value(self) -> Any:
        """The bias initializer (LSTM's ``unit_forget_bias`` replaces it)."""
        return self.bias_initializer

    # ------------------------------------------------------------- the cell
    def cell(self, h: Tensor, states: list[Tensor], x_t: Tensor, consts: list[Tensor]) -> list[Tensor]:
        """The new states from the previous ones; ``h`` is ``states[0]`` after recurrent dropout."""
        raise NotImplementedError

    def input_weights(self) -> list[Tensor]:
        """The weights of :meth:`input_projection`: the kernel and the input bias, where there is one."""
        return [self.kernel] if self.bias is None else [self.kernel, self.bias]

    def input_projection(self, x: Tensor, weights: list[Tensor]) -> Tensor:
        """Inputs times the kernel, plus the input bias: before the scan for every step at once, or in each step."""
        projected = x @ weights[0]
        return projected + weights[1] if len(weights) > 1 else projected

    def recurrent_product(self, h: Tensor, recurrent_kernel: Tensor) -> Tensor:
        """The previous output's contribution to the gates."""
        return h @ recurrent_kernel

    def recurrent_constants(self) -> list[Tensor]:
        """The weights the cell reads at every step."""
        return [self.recurrent_kernel]

    def _body(self, masked: bool, recurrent_dropout: bool, projecting: int) -> ScanBody:
        """The traced step, one per combination of mask, recurrent dropout and the number of input weights the
        step projects its input with (they add operands)."""
        key = (masked, recurrent_dropout, projecting)
        if key not in self._bodies:

            def step(carry: Tensor, x_t: Tensor, *rest: Tensor) -> Tensor:
                mask_t, consts = (rest[0], list(rest[1:])) if masked else (None, list(rest))
                if projecting:
                    x_t = self.input_projection(x_t, consts[:projecting])
                    consts = consts[projecting:]
                states = split(carry, self.STATES)
                h = states[0] * consts.pop() if recurrent_dropout else states[0]
                new = join(self.cell(h, states, x_t, consts))
                return new if mask_t is None else mask_t * new + (1.0 - mask_t) * carry

            step.__name__ = f"{self.name}_step"
            self._bodies[key] = ScanBody(step)
        return self._bodies[key]

    # ------------------------------------------------------------- calling
    def call(
        self, inputs: Tensor, training: bool = False, mask: Tensor | None = None, initial_state: Any = None
    ) -> Any:
        """The sequence's outputs; ``mask`` is ``(batch, timesteps)``, False at padding; ``initial_state`` a list of
        ``(batch, units)`` states (``[h, c]`` for LSTM)."""
        batch = inputs.shape[0]
        if training and self.dropout > 0.0:
            inputs = inputs * self._dropout_mask((batch, 1, *inputs.shape[2:]), self.dropout)
        weights = self.input_weights()
        # where the input product runs is the backend's call (JAX on a CPU: in each step, as XLA runs it faster)
        projecting = len(weights) if settings.backend.project_inputs_in_scan else 0
        steps = inputs if projecting else self.input_projection(inputs, weights)
        scanned = self.time_major(steps, mask)  # (time, batch, features or gates * units)
        consts = (weights if projecting else []) + self.recurrent_constants()
        recurrent_dropout = training and self.recurrent_dropout > 0.0
        if recurrent_dropout:
            consts.append(self._dropout_mask((batch, *self.state_shapes[0]), self.recurrent_dropout))
        start = join(self.initial_states(batch, inputs.dtype, initial_state))
        carries = scan(self._body(mask is not None, recurrent_dropout, projecting), start, scanned, consts)
        return self.outputs(carries, scanned, split(carries[-1], self.STATES))

    def _dropout_mask(self, shape: tuple[int, ...], rate: float) -> Tensor:
        """Keep-or-drop factors (0 or ``1 / (1 - rate)``), drawn once per call and shared by every time step."""
        kept = self.draw(random_uniform, shape) < 1.0 - rate
        return where(kept, 1.0 / (1.0 - rate), 0.0).astype(self.compute_dtype)

    # --------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **serialize_weight_arguments(self, self.WEIGHT_ARGUMENTS),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return super().from_config(deserialize_weight_arguments(config, cls.WEIGHT_ARGUMENTS))


def _time_major(x: Tensor) -> Tensor:
    """``x`` with its first two axes swapped: batch-major to time-major, and back."""
    return transpose(x, (1, 0, *range(2, x.ndim)))


def _copy(layer: Recurrence, **changes: Any) -> Recurrence:
    """A fresh, unbuilt layer with ``layer``'s config updated by ``changes``."""
    copy = type(layer).from_config({**layer.get_config(), **changes})
    if not isinstance(copy, Recurrence):
        raise TypeError(f"{type(layer).__name__}.from_config returned a {type(copy).__name__}.")
    return copy


def as_list(value: Any) -> list[Any]:
    """``value`` as a list: a list or tuple's items, or ``[value]``."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


class SimpleRNN(Recurrent):
    """A fully connected recurrence: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    >>> hn.layers.SimpleRNN(8)(np.ones((2, 5, 3))).shape
    (2, 8)
    """

    def cell(self, h: Tensor, states: list[Tensor], x_t: Tensor, consts: list[Tensor]) -> list[Tensor]:
        (recurrent_kernel,) = consts
        return [self.activation(x_t + self.recurrent_product(h, recurrent_kernel))]


def _kernel_switches(owner: str, use_cudnn: Any, implementation: Any) -> tuple[str | bool, int]:
    """Keras's LSTM and GRU kernel switches, checked: both of Keras's ``implementation`` modes compute the same
    numbers, and highnn runs every recurrence as its own scan, so ``use_cudnn`` may be "auto" or False only."""
    check_choice(owner, "implementation", implementation, (1, 2))
    if use_cudnn is True:
        fail(owner, "use_cudnn", "'auto' or False (highnn runs every recurrence as its own scan, never cuDNN)", True)
    return check_choice(owner, "use_cudnn", use_cudnn, ("auto", False)), int(implementation)


class LSTM(Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), with Keras's gate order ``i, f, c, o``.

    ``c_t = f * c_{t-1} + i * activation(z_c)`` and ``h_t = o * activation(c_t)``,
    where each gate is ``recurrent_activation`` of its block of
    ``x_t @ kernel + h_{t-1} @ recurrent_kernel + bias``. ``unit_forget_bias``
    starts the forget gate's bias at 1.

    >>> out, h, c = hn.layers.LSTM(8, return_state=True)(np.ones((2, 5, 3)))
    """

    GATES = 4
    STATES = 2

    def __init__(
        self,
        units: int,
        activation: str | activations.Activation | None = "tanh",
        recurrent_activation: str | activations.Activation = "sigmoid",
        unit_forget_bias: bool = True,
        use_cudnn: str | bool = "auto",
        implementation: int = 2,
        **kwargs: Any,
    ) -> None:
        self.unit_forget_bias = check_bool("LSTM", "unit_forget_bias", unit_forget_bias)
        self.use_cudnn, self.implementation = _kernel_switches("LSTM", use_cudnn, implementation)
        super().__init__(units, activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)

    def bias_initial_value(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        initializer = self.bias_initializer

        def forget_bias_one(shape: tuple[int, ...], dtype: str | None = None) -> np.ndarray:
            units = shape[0] // 4
            blocks = [initializer((units,), dtype), np.ones(units), initializer((2 * units,), dtype)]
            return np.concatenate(blocks).astype(dtype or settings.floatx)

        return forget_bias_one

    def cell(self, h: Tensor, states: list[Tensor], x_t: Tensor, consts: list[Tensor]) -> list[Tensor]:
        (recurrent_kernel,) = consts
        z_i, z_f, z_c, z_o = split(x_t + self.recurrent_product(h, recurrent_kernel), 4)
        gate = self.recurrent_activation
        c = gate(z_f) * states[1] + gate(z_i) * self.activation(z_c)
        return [gate(z_o) * self.activation(c), c]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }


class GRU(Recurrent):
    """Gated recurrent unit (Cho et al., 2014), with Keras's gate order ``z, r, h`` and ``reset_after=True``.

    ``h_t = z * h_{t-1} + (1 - z) * activation(x_h + r * (h_{t-1} @ U_h + b_h))``
    (with ``reset_after=False``: ``activation(x_h + (r * h_{t-1}) @ U_h)``).
    With ``reset_after`` the bias has shape ``(2, 3 * units)``: input and recurrent biases.

    >>> hn.layers.GRU(8, return_sequences=True)(np.ones((2, 5, 3))).shape
    (2, 5, 8)
    """

    GATES = 3

    def __init__(
        self,
        units: int,
        activation: str | activations.Activation | None = "tanh",
        recurrent_activation: str | activations.Activation = "sigmoid",
        reset_after: bool = True,
        use_cudnn: str | bool = "auto",
        implementation: int = 2,
        **kwargs: Any,
    ) -> None:
        self.reset_after = check_bool("GRU", "reset_after", reset_after)
        self.use_cudnn, self.implementation = _kernel_switches("GRU", use_cudnn, implementation)
        super().__init__(units, activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)

    def bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def input_weights(self) -> list[Tensor]:
        if self.bias is None:
            return [self.kernel]
        return [self.kernel, self.bias[0] if self.reset_after else self.bias]

    def recurrent_constants(self) -> list[Tensor]:
        if self.reset_after and self.bias is not None:
            return [self.recurrent_kernel, self.bias[1]]
        return [self.recurrent_kernel]

    def cell(self, h: Tensor, states: list[Tensor], x_t: Tensor, consts: list[Tensor]) -> list[Tensor]:
        recurrent_kernel, *recurrent_bias = consts
        x_z, x_r, x_h = split(x_t, 3)
        gate = self.recurrent_activation
        if self.reset_after:
            recurrent = self.recurrent_product(h, recurrent_kernel)
            if recurrent_bias:
                recurrent = recurrent + recurrent_bias[0]
            r_z, r_r, r_h = split(recurrent, 3)
            z, r = gate(x_z + r_z), gate(x_r + r_r)
            candidate = self.activation(x_h + r * r_h)
        else:
            u_zr, u_h = recurrent_kernel[:, : 2 * self.units], recurrent_kernel[:, 2 * self.units :]
            r_z, r_r = split(h @ u_zr, 2)
            z, r = gate(x_z + r_z), gate(x_r + r_r)
            candidate = self.activation(x_h + (r * h) @ u_h)
        return [z * states[0] + (1.0 - z) * candidate]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        }


# ---------------------------------------------------------------- wrappers
class Wrapper(Layer):
    """A layer that applies another layer; its config holds the inner layer's."""

    #: the allow-list inner layers are rebuilt from (``highnn.layers`` sets it to ``LAYERS``)
    registry: ClassVar[Registry[Layer] | None] = None

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            fail(type(self).__name__, "layer", "a Layer instance", layer, TypeError)
        super().__init__(**kwargs)
        self.layer = layer
        self.supports_masking = True

    @classmethod
    def inner(cls, config: Any) -> Layer:
        """A layer from its ``{"class_name", "config"}``, by the allow-list."""
        if cls.registry is None:
            raise RuntimeError("highnn.layers has not registered the layer allow-list with the wrappers.")
        layer: Layer = cls.registry.deserialize(config)
        return layer

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "layer": {"class_name": type(self.layer).__name__,
                                                  "config": self.layer.get_config()}}  # fmt: skip

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return super().from_config({**config, "layer": cls.inner(config["layer"])})


class TimeDistributed(Wrapper):
    """Applies ``layer`` to every time step (axis 1) of its input: ``TimeDistributed(Dense(8))``.

    >>> hn.layers.TimeDistributed(hn.layers.Dense(8))(np.ones((2, 5, 3))).shape
    (2, 5, 8)
    """

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) < 3:
            raise ValueError(
                f"TimeDistributed {self.name!r} needs inputs of shape (batch, time, ...), "
                f"received {tuple(input_shape)}."
            )
        if not self.layer.built:
            self.layer.build((None,) + tuple(input_shape[2:]))
            self.layer.built = True

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        batch, time = inputs.shape[:2]
        out = self.layer(inputs.reshape((batch * time,) + inputs.shape[2:]), training=training)
        return out.reshape((batch, time) + out.shape[1:])

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        inner = self.layer.compute_output_shape((None,) + tuple(input_shape[2:]))
        return tuple(input_shape[:2]) + tuple(inner[1:])


class Bidirectional(Wrapper):
    """Runs a recurrent layer forwards and a copy of it backwards over the sequence, and merges the two.

    ``merge_mode`` is ``"concat"`` (the default), ``"sum"``, ``"mul"``, ``"ave"``
    or None (a list of both outputs). The backward layer is a copy of
    ``layer`` with ``go_backwards`` flipped, unless ``backward_layer`` is given;
    its sequence output is reversed back so both read in time order.

    >>> hn.layers.Bidirectional(hn.layers.LSTM(8))(np.ones((2, 5, 3))).shape
    (2, 16)
    """

    MERGE_MODES = ("concat", "sum", "mul", "ave", None)

    def __init__(
        self, layer: Layer, merge_mode: str | None = "concat", backward_layer: Layer | None = None, **kwargs: Any
    ) -> None:
        if not isinstance(layer, Recurrence):
            fail("Bidirectional", "layer", "a recurrent layer (SimpleRNN, LSTM, GRU, RNN)", layer, TypeError)
        check_choice("Bidirectional", "merge_mode", merge_mode, self.MERGE_MODES)
        super().__init__(layer, **kwargs)
        forward = _copy(layer, name=f"forward_{layer.name}")
        if backward_layer is None:
            backward_layer = _copy(layer, name=f"backward_{layer.name}", go_backwards=True)
        if not isinstance(backward_layer, Recurrence) or (
            backward_layer.return_sequences,
            backward_layer.return_state,
        ) != (layer.return_sequences, layer.return_state):
            fail("Bidirectional", "backward_layer", "a recurrent layer with the same return_* flags", backward_layer)
        if backward_layer.go_backwards == layer.go_backwards:  # as Keras: the two must run opposite ways
            fail("Bidirectional", "layer", f"a layer whose go_backwards differs from the backward layer's "
                 f"({backward_layer.go_backwards}; the default backward layer runs backwards)", layer)  # fmt: skip
        for sub in (forward, backward_layer):
            sub.zero_output_for_mask = layer.return_sequences  # as Keras: padded steps output zeros
        self.forward_layer: Recurrence = forward
        self.backward_layer: Recurrence = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self._layers = [self.forward_layer, self.backward_layer]  # the template `layer` holds no weights

    def build(self, input_shape: Shape) -> None:
        for sub in (self.forward_layer, self.backward_layer):
            if not sub.built:
                sub.build(input_shape)
                sub.built = True

    def call(self, inputs: Tensor, training: bool = False, mask: Tensor | None = None) -> Any:
        forward = as_list(self.forward_layer(inputs, training=training, mask=mask))
        backward = as_list(self.backward_layer(inputs, training=training, mask=mask))
        y_forward, y_backward = forward[0], backward[0]
        if self.return_sequences and self.forward_layer.go_backwards != self.backward_layer.go_backwards:
            reversed_layer_output = y_backward if self.backward_layer.go_backwards else y_forward
            flipped = reversed_layer_output[:, ::-1]
            y_forward, y_backward = (y_forward, flipped) if self.backward_layer.go_backwards else (flipped, y_backward)
        merged = self.merge(y_forward, y_backward)
        if self.return_state:
            return [*(merged if isinstance(merged, list) else [merged]), *forward[1:], *backward[1:]]
        return merged

    def merge(self, a: Tensor, b: Tensor) -> Any:
        if self.merge_mode == "concat":
            return join([a, b])
        if self.merge_mode == "sum":
            return a + b
        if self.merge_mode == "mul":
            return a * b
        if self.merge_mode == "ave":
            return (a + b) * 0.5
        return [a, b]

    def compute_mask(self, inputs: Tensor, previous_mask: Tensor | None = None) -> Any:
        return previous_mask if self.return_sequences and not self.return_state else None

    def compute_output_shape(self, input_shape: Shape) -> Any:
        declared = self.forward_layer.compute_output_shape(input_shape)
        shape = declared if isinstance(declared, list) else [declared]
        output = tuple(shape[0])
        merged: Any = output[:-1] + (2 * output[-1],) if self.merge_mode == "concat" else output
        if self.merge_mode is None:
            merged = [output, output]
        if self.return_state:
            return [*(merged if isinstance(merged, list) else [merged]), *shape[1:], *shape[1:]]
        return merged

    def get_config(self) -> dict[str, Any]:
        backward = {"class_name": type(self.backward_layer).__name__, "config": self.backward_layer.get_config()}
        return {**super().get_config(), "merge_mode": self.merge_mode, "backward_layer": backward}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return super().from_config({**config, "backward_layer": cls.inner(config["backward_layer"])})

"""``plot_model`` and ``model_to_dot``: a picture of a model's layers and how they connect, as Keras draws it.

The picture is Graphviz DOT text, always written next to ``to_file``; when
Graphviz's ``dot`` program is on the PATH it also renders ``to_file`` (PNG,
SVG, PDF by the suffix). Nothing else is needed.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from highnn.checks import check_choice
from highnn.layers.layer import Layer

RANKDIRS = ("TB", "LR", "BT", "RL")
RENDERED = ("png", "svg", "pdf", "jpg", "jpeg", "gif")


def model_to_dot(
    model: Layer,
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    show_layer_activations: bool = False,
    show_trainable: bool = False,
) -> str:
    """The DOT text of ``model``: one box per layer, an edge per connection (a shared layer's box has several)."""
    check_choice("model_to_dot", "rankdir", rankdir, RANKDIRS)
    boxes, edges = _graph(model)
    lines = [f'digraph "{_escape(model.name)}" {{', f"  rankdir={rankdir};",
             '  node [shape=record, fontname="Helvetica"];']  # fmt: skip
    for number, (layer, shapes) in enumerate(boxes):
        parts = [f"{layer.name} ({type(layer).__name__})" if show_layer_names else type(layer).__name__]
        activation = layer.get_config().get("activation") if show_layer_activations else None
        if isinstance(activation, str):
            parts.append(f"activation: {activation}")
        if show_shapes:
            parts.append("output: " + ", ".join(map(str, shapes)) if shapes else "output: ?")
        if show_dtype:
            parts.append(f"dtype: {getattr(layer, 'dtype', None) or 'float'}")
        if show_trainable:
            parts.append(f"trainable: {layer.trainable}")
        label = "|".join(_escape(part) for part in parts)
        lines.append(f'  layer{number} [label="{{{label}}}"];')
    index = {id(layer): number for number, (layer, _) in enumerate(boxes)}
    for source, target in dict.fromkeys((index[id(a)], index[id(b)]) for a, b in edges):
        lines.append(f"  layer{source} -> layer{target};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def plot_model(
    model: Layer,
    to_file: str | os.PathLike[str] = "model.png",
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    show_layer_activations: bool = False,
    show_trainable: bool = False,
) -> str:
    """Draw ``model`` to ``to_file``; returns the path of the file written.

    The DOT text goes to ``to_file`` with a ``.dot`` suffix (or to ``to_file`` itself
    when it ends in ``.dot``); ``dot`` renders the image when it is installed,
    otherwise a message names the DOT file to render elsewhere.
    """
    text = model_to_dot(model, show_shapes, show_dtype, show_layer_names, rankdir, show_layer_activations,
                        show_trainable)  # fmt: skip
    target = Path(to_file)
    kind = target.suffix.lower().lstrip(".")
    if kind != "dot":
        check_choice("plot_model", "to_file's suffix", kind, RENDERED + ("dot",))
    dot_file = target if kind == "dot" else target.with_suffix(".dot")
    dot_file.write_text(text, encoding="utf-8")
    if kind == "dot":
        return str(dot_file)
    program = shutil.which("dot")
    if program is None:
        print(f"plot_model: Graphviz's `dot` program is not installed, so {target} was not drawn; the graph is in "
              f"{dot_file} (render it with `dot -T{kind} {dot_file} -o {target}`).")  # fmt: skip
        return str(dot_file)
    result = subprocess.run([program, f"-T{kind}", str(dot_file), "-o", str(target)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"plot_model: `dot` could not draw {target} from {dot_file}: {result.stderr.strip()}")
    return str(target)


def _graph(model: Layer) -> tuple[list[tuple[Layer, list[tuple[int | None, ...]]]], list[tuple[Layer, Layer]]]:
    """The layers with their output shapes, and the (source, target) layer pairs that connect them."""
    nodes = getattr(model, "_nodes", None)
    if nodes is not None:  # a functional model: its recorded calls
        shapes: dict[int, list[tuple[int | None, ...]]] = {}
        layers: dict[int, Layer] = {}
        edges = []
        for node in nodes:
            layers.setdefault(id(node.layer), node.layer)
            shapes.setdefault(id(node.layer), [t.shape for t in node.flat_outputs])
            edges += [(t.node.layer, node.layer) for t in node.flat_inputs if t.node is not None]
        return [(layer, shapes[key]) for key, layer in layers.items()], edges
    chain: list[Layer] = list(getattr(model, "_layers", [])) or [model]
    with_shapes = {id(layer): shape for layer, shape in _shapes(model)}
    boxes = [(layer, [with_shapes[id(layer)]] if id(layer) in with_shapes else []) for layer in chain]
    return boxes, list(itertools.pairwise(chain))


def _shapes(model: Any) -> list[tuple[Layer, Any]]:
    """Each layer's output shape, where the model knows it (a built Sequential)."""
    known = getattr(model, "layer_output_shapes", None)
    return [(layer, shape) for layer, shape in known() if shape != "?"] if known is not None else []


def _escape(text: str) -> str:
    """Text safe inside a DOT record label."""
    for char in '\\"{}|<>':
        text = text.replace(char, "\\" + char)
    return text

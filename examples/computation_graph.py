"""The computation graph of (a*b + 1) * (a*b + 2), where the node a*b is shared.

Prints the forward values (Algorithm 5.3), the gradients from highnn's backward
pass (Algorithm 5.4) and a Graphviz DOT picture (render it with `dot -Tpng`).
"""

import highnn as hn


def main() -> tuple[float, float, float]:
    a = hn.tensor(2.0, requires_grad=True, name="a")
    b = hn.tensor(3.0, requires_grad=True, name="b")
    c = a * b  # computed once, used twice
    y = (c + 1) * (c + 2)
    y.backward()  # d(y)/d(c) = (c + 2) + (c + 1) = 15; d(y)/d(a) = 15 * b = 45; d(y)/d(b) = 15 * a = 30

    print("forward pass, in topological order:")
    print(hn.graph.to_text(y))
    print(f"\ny = {y.item():g}   dy/da = {a.grad.item():g}   dy/db = {b.grad.item():g}\n")
    print(hn.graph.to_dot(y))
    return y.item(), a.grad.item(), b.grad.item()


if __name__ == "__main__":
    main()
